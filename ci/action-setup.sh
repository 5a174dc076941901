#!/usr/bin/env bash
# Step 1 of action.yml: a lockstep binary for the run step. With LOCKSTEP_INPUT_BIN (the action's
# `lockstep` input) that binary is used as it is; otherwise ci/setup.sh and ci/build.sh set up and
# build the action's own checkout. Writes `lockstep` and `python` to $GITHUB_OUTPUT.
set -euo pipefail
CI_TAG=action-setup; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: this script runs as a step of action.yml}"

if [[ -n "${LOCKSTEP_INPUT_BIN:-}" ]]; then
  [[ -x "$LOCKSTEP_INPUT_BIN" ]] || { echo "::error title=lockstep::input lockstep: no executable at $LOCKSTEP_INPUT_BIN"; exit 3; }
  BIN="$(cd "$(dirname "$LOCKSTEP_INPUT_BIN")" && pwd)/$(basename "$LOCKSTEP_INPUT_BIN")"
  echo "lockstep: using the given binary $BIN" >&2
else
  BIN="${LOCKSTEP_BUILD_DIR:-$ROOT/build}/harness/lockstep"
  # A binary restored from the action's cache (LOCKSTEP_CACHED_BUILD, keyed by the sources) is used
  # when, after the run-time set-up (Python, the HTTP library), the dynamic loader finds every
  # library it needs and it runs: only the venv is set up then.
  cached=false
  if [[ "${LOCKSTEP_CACHED_BUILD:-}" == true && -x "$BIN" ]]; then
    echo "::group::lockstep set-up (cached binary; ci/setup.sh, run time only)"
    LOCKSTEP_SETUP_SCOPE=run bash "$ROOT/ci/setup.sh"
    if ! ldd "$BIN" | grep -q "not found" && "$BIN" --version >/dev/null 2>&1; then
      cached=true
    else
      echo "lockstep: the cached binary does not run here; building" >&2
    fi
    echo "::endgroup::"
  fi
  if ! $cached; then
    echo "::group::lockstep set-up (ci/setup.sh, ci/build.sh)"
    LOCKSTEP_SETUP_SCOPE=build bash "$ROOT/ci/setup.sh"
    bash "$ROOT/ci/build.sh" -DLOCKSTEP_TESTS=OFF   # the gate needs the CLI only
    echo "::endgroup::"
  fi
fi
PYTHON="$VENV/bin/python"
[[ -x "$PYTHON" ]] || PYTHON="$(command -v python3)"
{
  echo "lockstep=$BIN"
  echo "python=$PYTHON"
} >>"$GITHUB_OUTPUT"

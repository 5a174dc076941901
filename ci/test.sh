#!/usr/bin/env bash
# The whole test suite: set up, build, then GoogleTest through ctest and the
# Python tests (reference checks against transformers, CLI end to end).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${LOCKSTEP_BUILD_DIR:-$ROOT/build}"
VENV="${LOCKSTEP_VENV:-$ROOT/.venv}"
"$ROOT/ci/setup.sh" || exit $?
"$ROOT/ci/build.sh" || exit $?

# Serially: the model tests use every core through OpenMP, and two at once
# oversubscribe a 2-core machine badly.
echo "[test] ctest" >&2
(cd "$BUILD" && ctest --output-on-failure --timeout 900)
ctest_rc=$?

echo "[test] pytest" >&2
LOCKSTEP_BIN="$BUILD/harness/lockstep" LOCKSTEP_KERNELS_LIB="$BUILD/kernels/liblockstep_kernels.so" "$VENV/bin/python" -m pytest "$ROOT/tests" -q -p no:cacheprovider
pytest_rc=$?

if ((ctest_rc != 0 || pytest_rc != 0)); then
  echo "[test] FAILED (ctest exit $ctest_rc, pytest exit $pytest_rc)" >&2
  exit 1
fi
echo "[test] all passed" >&2

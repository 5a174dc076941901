#!/usr/bin/env bash
# The whole test suite: set up, build, then GoogleTest through ctest and the
# Python tests (reference checks against transformers, CLI end to end).
set -uo pipefail
CI_TAG=test; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$ROOT/ci/setup.sh" || exit $?
"$ROOT/ci/build.sh" || exit $?
# The Python package (python/): its wheel built and installed into the venv (stamped; ~80 s the first time).
"$ROOT/ci/python-package.sh" || exit $?

# One test per core, each with one OpenMP thread (two model tests with every
# core each would oversubscribe a 2-core machine badly): 2.4 instead of 4.2
# minutes here. Tests of thread-count invariance set their thread counts themselves.
echo "[test] ctest" >&2
(cd "$BUILD" && OMP_NUM_THREADS=1 ctest --output-on-failure --timeout 900 -j "$(nproc)")
ctest_rc=$?

# Detection power (harness/DETECTION.md): builds lockstep_fault in the same build dir (only the
# hook sources are compiled again) and runs the gate against every injected fault; before pytest,
# so that tests/harness/test_detection.py finds the binary. LOCKSTEP_CI_DETECT=0 skips it.
detect_rc=0
if [[ "${LOCKSTEP_CI_DETECT:-1}" != 0 ]]; then
  echo "[test] detection power" >&2
  LOCKSTEP_BUILD_DIR="$BUILD" LOCKSTEP_VENV="$VENV" "$ROOT/ci/detect.sh"
  detect_rc=$?
fi

# The fault tests of pytest run lockstep_fault, the only build that reads LOCKSTEP_TEST_FAULT.
if [[ "${LOCKSTEP_CI_DETECT:-1}" == 0 ]]; then
  LOCKSTEP_BUILD_DIR="$BUILD" LOCKSTEP_VENV="$VENV" "$ROOT/ci/detect.sh" build || exit $?
fi

echo "[test] pytest" >&2
LOCKSTEP_BIN="$BUILD/harness/lockstep" LOCKSTEP_KERNELS_LIB="$BUILD/kernels/liblockstep_kernels.so" "$VENV/bin/python" -m pytest "$ROOT/tests" -q -p no:cacheprovider --durations=15
pytest_rc=$?

# Reliability (fuzz/FUZZ.md): a fuzz smoke of the five parsers, the unit tests again under
# ASan+UBSan (build-asan/), and the stress suite under TSan (build-tsan/: 2000 workers on a tiny
# synthetic model, then LOCKSTEP_TSAN_MODEL_WORKERS on SmolLM2). LOCKSTEP_CI_FUZZ=0 and
# LOCKSTEP_CI_SANITIZE=0 skip them; the long fuzz runs are by hand, recorded in fuzz/FUZZ.md.
fuzz_rc=0 asan_rc=0 tsan_rc=0
if [[ "${LOCKSTEP_CI_FUZZ:-1}" != 0 ]]; then
  echo "[test] fuzz smoke" >&2
  LOCKSTEP_BUILD_DIR="$BUILD" LOCKSTEP_VENV="$VENV" "$ROOT/ci/fuzz.sh" smoke "${LOCKSTEP_FUZZ_SMOKE_S:-10}"
  fuzz_rc=$?
fi
if [[ "${LOCKSTEP_CI_SANITIZE:-1}" != 0 ]]; then
  echo "[test] ASan+UBSan unit tests" >&2
  LOCKSTEP_BUILD_DIR="$BUILD" LOCKSTEP_VENV="$VENV" "$ROOT/ci/sanitize.sh" asan
  asan_rc=$?
  echo "[test] TSan stress" >&2
  LOCKSTEP_BUILD_DIR="$BUILD" LOCKSTEP_VENV="$VENV" "$ROOT/ci/sanitize.sh" tsan "${LOCKSTEP_TSAN_WORKERS:-2000}" \
    "${LOCKSTEP_TSAN_MODEL_WORKERS:-4}"
  tsan_rc=$?
fi

if ((ctest_rc != 0 || detect_rc != 0 || pytest_rc != 0 || fuzz_rc != 0 || asan_rc != 0 || tsan_rc != 0)); then
  echo "[test] FAILED (ctest exit $ctest_rc, detect exit $detect_rc, pytest exit $pytest_rc, fuzz exit $fuzz_rc," \
       "asan exit $asan_rc, tsan exit $tsan_rc)" >&2
  exit 1
fi
echo "[test] all passed" >&2

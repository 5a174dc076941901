#!/usr/bin/env bash
# Configure (once) and build lockstep into build/ (or $LOCKSTEP_BUILD_DIR).
# Extra arguments go to the first CMake configure, e.g. -DLOCKSTEP_CUDA=OFF.
set -euo pipefail
CI_TAG=build; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [[ ! -f "$BUILD/build.ninja" ]]; then
  echo "[build] configuring $BUILD" >&2
  # No GPU here: the CUDA kernels cannot run, so they are compiled for one architecture (sm_90a),
  # as the check that they compile and link, instead of two (CMakeLists.txt), and their host side
  # unoptimised (-O0: 39 -> 28 s a .cu file here; nvcc optimises device code either way); the C++
  # keeps -O2 but only line tables for debug info (-g1: backtraces keep functions and lines; a harness
  # file compiles ~35% faster than with -g).
  preset=dev   # CMakePresets.json
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    preset=cuda-check
    say "no GPU: CUDA code compiled for sm_90a only, host side at -O0 (compile and link check); C++ -O2 -g1"
  fi
  cmake --preset "$preset" -S "$ROOT" -B "$BUILD" -DLOCKSTEP_PYTHON="$VENV/bin/python" "$@" >"$BUILD.configure.log" 2>&1 \
    || { cat "$BUILD.configure.log" >&2; echo "[build] ERROR: CMake configure failed" >&2; exit 3; }
fi
echo "[build] building (first build takes several minutes on 2 cores)" >&2
cmake --build "$BUILD" -j "${LOCKSTEP_JOBS:-$(nproc)}"

#!/usr/bin/env bash
# Configure (once) and build lockstep into build/ (or $LOCKSTEP_BUILD_DIR).
# Extra arguments go to the first CMake configure, e.g. -DLOCKSTEP_CUDA=OFF.
set -euo pipefail
CI_TAG=build; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [[ ! -f "$BUILD/build.ninja" ]]; then
  echo "[build] configuring $BUILD" >&2
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DLOCKSTEP_PYTHON="$VENV/bin/python" "$@" >"$BUILD.configure.log" 2>&1 \
    || { cat "$BUILD.configure.log" >&2; echo "[build] ERROR: CMake configure failed" >&2; exit 3; }
fi
echo "[build] building (first build takes several minutes on 2 cores)" >&2
cmake --build "$BUILD" -j "${LOCKSTEP_JOBS:-$(nproc)}"

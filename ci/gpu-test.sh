#!/usr/bin/env bash
# Build lockstep with CUDA and run the whole GoogleTest suite on a GPU
# machine, in one call. Meant for the lent H100/H200 (torch 2.11.0+cu130 in
# its python3, no network): prepare .deps/ first with ci/device-deps.sh and
# carry it. Logs go to $OUT (or ./gpu-out). Tests that need the embedded
# model skip there (the GGUF is not installed on that machine).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-out}"
BUILD="${LOCKSTEP_BUILD_DIR:-$ROOT/build-gpu}"
mkdir -p "$OUT"
cd "$ROOT"

DEPS=/tmp/lockstep-deps
if compgen -G ".deps/*.deb" >/dev/null; then
  mkdir -p "$DEPS"
  for deb in .deps/*.deb; do dpkg -x "$deb" "$DEPS"; done
  export PKG_CONFIG_SYSROOT_DIR="$DEPS"
  export PKG_CONFIG_PATH="$DEPS/usr/lib/x86_64-linux-gnu/pkgconfig"
  PREFIX=(-DCMAKE_PREFIX_PATH="$DEPS/usr")
else
  PREFIX=()
fi

{
  echo "== $(date -u +%FT%TZ) commit $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nvcc --version | tail -2
} 2>&1 | tee "$OUT/device.txt"

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DLOCKSTEP_PYTHON="$(command -v python3)" "${PREFIX[@]}" \
  >"$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 3; }
cmake --build "$BUILD" -j "$(nproc)" >"$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 3; }
echo "build ok"
set +e
(cd "$BUILD" && ctest --output-on-failure -j 4 --timeout 900 --output-junit "$OUT/ctest-junit.xml") 2>&1 | tee "$OUT/ctest.log"
rc=${PIPESTATUS[0]}
"$BUILD/tests/kernels_test" --gtest_filter='ArgmaxCuda*' 2>&1 | tail -8
exit "$rc"

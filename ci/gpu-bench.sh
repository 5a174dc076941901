#!/usr/bin/env bash
# Build lockstep's CUDA kernels on the lent GPU machine, run the CUDA kernel
# tests, time ours vs stock (Google Benchmark, kernels/bench/cuda_bench.cpp)
# and the Triton reference (kernels/bench/triton_ref.py, if .ref/ carries
# batch_invariant_ops), and write the side-by-side table with the goals
# marked to $OUT/perf.md (the source of kernels/PERF.md).
#
# Carry .deps (ci/device-prepare.sh) and .ref (git-ignored reference).
#   LOCKSTEP_STAGE=all|test|bench  test: build + kernel tests (GoogleTest, CPU and
#                               CUDA, and the Python ones); bench: build
#                               (a no-op on a warm machine) + timings + perf.md.
#                               Two calls (test, then bench) fit the 10-minute
#                               limit of one device command; all does both.
#   LOCKSTEP_BENCH_FILTER=re    only the benchmarks matching (Google Benchmark filter)
#   LOCKSTEP_BENCH_TRITON=0     skip the Triton reference
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"

{
  echo "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total,clocks.max.sm --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nvcc --version | tail -2
} 2>&1 | tee "$OUT/device.txt"

gpu_build lockstep_bench_cuda kernels_test lockstep_kernels
echo "build ok"

STAGE="${LOCKSTEP_STAGE:-all}"
rc=0
if [[ "$STAGE" == all || "$STAGE" == test ]]; then
  set +e
  "$BUILD/tests/kernels_test" --gtest_output="xml:$OUT/kernel-tests.xml" >"$OUT/kernel-tests.log" 2>&1
  rc=$?
  grep -E "^\[  (PASSED|FAILED|SKIPPED)|^\[==========\]|drift|FAILED  \]" "$OUT/kernel-tests.log" | tail -40 || true
  # The Python helper and a loaded TorchScript module, on the CPU and the GPU;
  # a crash prints its native backtrace (ci/segv_backtrace.c).
  gcc -shared -fPIC -o /tmp/lockstep-segv.so ci/segv_backtrace.c
  LD_PRELOAD=/tmp/lockstep-segv.so LOCKSTEP_KERNELS_LIB="$BUILD/kernels/liblockstep_kernels.so" python3 -m pytest -q -p no:cacheprovider \
    tests/python_package --ignore=tests/python_package/test_wheel.py >"$OUT/kernel-pytest.log" 2>&1 || rc=1
  tail -3 "$OUT/kernel-pytest.log"
  echo "libstdc++ internals exported by our library (expect 0): $(nm -D --defined-only \
    "$BUILD/kernels/liblockstep_kernels.so" | grep -c 'codecvt\|_M_insert')"
  set -e
fi

[[ "$STAGE" == test ]] && exit "$rc"

LOCKSTEP_GEMM_LOG=1 "$BUILD/kernels/lockstep_bench_cuda" --benchmark_filter="${LOCKSTEP_BENCH_FILTER:-.}" \
  --benchmark_out="$OUT/bench.json" --benchmark_out_format=json >"$OUT/bench.txt" 2>"$OUT/bench-plans.txt"
if [[ "${LOCKSTEP_BENCH_TRITON:-1}" == 1 ]]; then
  python3 kernels/bench/triton_ref.py --quick --json "$OUT/triton.json" >"$OUT/triton.txt" 2>&1 ||
    echo "triton reference failed (see triton.txt)"
fi

python3 kernels/bench/perf_table.py "$OUT"
exit "$rc"

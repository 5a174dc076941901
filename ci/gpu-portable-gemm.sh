#!/usr/bin/env bash
# Portable mode's fp32 GEMM on the lent GPU (issue 20 item 4), one call of about 5 minutes. From a
# `git archive` in .cur/ (ci/gpu-final.sh says how), carry .deps .cur:
#   cd .cur && ln -s ../.deps .deps && LOCKSTEP_COMMIT=<hash> bash ci/gpu-portable-gemm.sh
# In order: build kernels_test and lockstep_bench_cuda (Release, CUDA); kernels_test's portable
# suites (CPU bits == CUDA bits per op, and CudaPortableGemm: every GEMM path forced on odd shapes
# and layouts against the CPU portable GEMM); then the portable GEMM against cuBLAS fp32 with TF32
# off on kernels/PERF.md's table (gemm_fp32_portable/), written as markdown with each shape's
# ratio and the 0.60x goal. LOCKSTEP_PATHS=1 also times every path of every shape
# (gemm_fp32_portable_paths/, for tuning gemm_path_for). $OUT/portable-gemm.txt is the summary;
# each stage's log lands in $OUT as it ends.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
SUMMARY="$OUT/portable-gemm.txt"
say() { echo "$@" | tee -a "$SUMMARY"; }
rc=0

say "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total,clocks.max.sm --format=csv,noheader |
  tee -a "$SUMMARY"
t0=$SECONDS
gpu_build kernels_test lockstep_bench_cuda
say "build ok ($((SECONDS - t0)) s)"

t0=$SECONDS
timeout 150 "$BUILD/tests/kernels_test" --gtest_filter='*Portable*' >"$OUT/portable-tests.log" 2>&1 || rc=1
say "kernels_test *Portable* ($((SECONDS - t0)) s): $(grep -E '^\[  (PASSED|FAILED)' "$OUT/portable-tests.log" | tr '\n' ' ')"
grep -E "^\[  FAILED  \] [A-Z]|Failure|Expected|path |element " "$OUT/portable-tests.log" | head -20 | tee -a "$SUMMARY"

# Markdown table of a benchmark JSON: portable (with the path it took) against cuBLAS fp32.
table() {
  python3 - "$1" <<'PY'
import json, re, sys
rows, order = {}, []
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("run_type") == "aggregate":
        continue
    shape, impl = b["name"].rsplit("/", 1)
    shape = shape.split("/", 1)[1]
    if shape not in rows:
        rows[shape] = {}
        order.append(shape)
    rows[shape][impl] = b
def gflops(shape, us):
    n, k, m = (int(re.search(key + r"=(\d+)", shape).group(1)) for key in ("N", "K", "M"))
    return 2.0 * m * n * k / (us * 1e-6) / 1e9
print("| shape | path | portable us | cuBLAS fp32 us | portable GFLOP/s | cuBLAS GFLOP/s | portable / cuBLAS |")
print("|---|---|---:|---:|---:|---:|---:|")
ratios = []
for shape in order:
    p, c = rows[shape].get("portable"), rows[shape].get("cublas_fp32")
    if not (p and c):
        continue
    r = c["real_time"] / p["real_time"]
    ratios.append((r, shape))
    print(f"| {shape} | {p.get('label', '')} | {p['real_time']:.1f} | {c['real_time']:.1f} | "
          f"{gflops(shape, p['real_time']):.0f} | {gflops(shape, c['real_time']):.0f} | {r:.2f}x |")
if ratios:
    low = min(ratios)
    met = sum(r >= 0.60 for r, _ in ratios)
    print(f"\ngoal >= 0.60x of cuBLAS: met at {met} of {len(ratios)} shapes; lowest {low[0]:.2f}x ({low[1]})")
PY
}

t0=$SECONDS
timeout 300 "$BUILD/kernels/lockstep_bench_cuda" --benchmark_filter='^gemm_fp32_portable/' \
  --benchmark_out="$OUT/bench-portable-gemm.json" --benchmark_out_format=json >"$OUT/bench.txt" 2>&1 || rc=1
say "bench gemm_fp32_portable/ ($((SECONDS - t0)) s)"
table "$OUT/bench-portable-gemm.json" >"$OUT/portable-gemm.md" 2>&1 || rc=1
tee -a "$SUMMARY" <"$OUT/portable-gemm.md"

if [[ "${LOCKSTEP_PATHS:-0}" == 1 ]]; then
  t0=$SECONDS
  timeout 400 "$BUILD/kernels/lockstep_bench_cuda" --benchmark_filter='^gemm_fp32_portable_paths/' \
    --benchmark_out="$OUT/bench-portable-gemm-paths.json" --benchmark_out_format=json >"$OUT/bench-paths.txt" 2>&1 || rc=1
  say "bench gemm_fp32_portable_paths/ ($((SECONDS - t0)) s): $OUT/bench-paths.txt"
fi
exit "$rc"

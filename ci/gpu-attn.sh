#!/usr/bin/env bash
# The device check of the tensor-core attention (kernels/cuda/attention_mma.cuh,
# LOCKSTEP_ATTENTION_MMA=1) in one call (~8 minutes of an H100; each stage's
# output lands in $OUT as it finishes, so a call cut off still returns what it did):
#   1. build kernels_test and lockstep_bench_cuda (Release, CUDA; sm_90a only unless
#      LOCKSTEP_ATTN_ARCHS says otherwise, e.g. "8.0;9.0a");
#   2. the CUDA attention suites with the switch off (today's kernel: CudaAttention*,
#      PagedAttentionCuda*), then the same suites with LOCKSTEP_ATTENTION_MMA=1 (their
#      bf16/fp16 cases at D 64/128 now run the tensor-core kernel), then the new
#      CudaAttentionMma* tests (they set the switch themselves);
#   3. the mma_attn_* benchmarks (ours_mma vs ours_old vs stock SDPA), a table in the summary.
# From the working tree, carry .deps (ci/device-prepare.sh):
#   run(command="bash ci/gpu-attn.sh", carry=[".deps"])
# or from a `git archive` in .cur/ (ci/gpu-final.sh says how), carry .deps .cur:
#   cd .cur && ln -s ../.deps .deps && LOCKSTEP_COMMIT=<hash> bash ci/gpu-attn.sh
# LOCKSTEP_ATTN_STAGES (default "tests bench") picks stages 2 and 3: a call cut short can be
# followed by another on the warm machine (the build is then a no-op), e.g.
#   run(command="LOCKSTEP_ATTN_STAGES=bench bash ci/gpu-attn.sh", carry=[".deps"])
# $OUT/attn.txt is the summary; tests-*.log, bench-attn.{txt,json} come back too.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
SUMMARY="$OUT/attn.txt"
say() { echo "$@" | tee -a "$SUMMARY"; }
rc=0

say "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader | tee -a "$SUMMARY"
t0=$SECONDS
gpu_build "-DTORCH_CUDA_ARCH_LIST=${LOCKSTEP_ATTN_ARCHS:-9.0a}" kernels_test lockstep_bench_cuda
say "build ok ($((SECONDS - t0)) s)"

run_tests() {   # name timeout filter [env assignments...]
  local name="$1" limit="$2" filter="$3"
  shift 3
  local t0=$SECONDS
  env "$@" timeout "$limit" "$BUILD/tests/kernels_test" --gtest_filter="$filter" >"$OUT/tests-$name.log" 2>&1 || rc=1
  say "$name ($((SECONDS - t0)) s): $(grep -E '^\[  (PASSED|FAILED)|^\[  SKIPPED \] [0-9]' "$OUT/tests-$name.log" | tr '\n' ' ')"
  grep -E "^\[  FAILED  \] [A-Z]|Failure|stock flash attention:|drift:" "$OUT/tests-$name.log" | head -12 | tee -a "$SUMMARY"
}
STAGES=" ${LOCKSTEP_ATTN_STAGES:-tests bench} "
SUITES='CudaAttention.*:CudaAttentionModes.*:CudaAttentionStock.*:Table/CudaAttention.*:PagedAttentionCuda.*'
if [[ "$STAGES" == *" tests "* ]]; then
  run_tests switch-off 200 "$SUITES" LOCKSTEP_ATTENTION_MMA=0
  run_tests switch-on 200 "$SUITES" LOCKSTEP_ATTENTION_MMA=1
  run_tests mma 260 'CudaAttentionMma*:*/CudaAttentionMma.*'
fi
[[ "$STAGES" == *" bench "* ]] || exit "$rc"

t0=$SECONDS
timeout 200 "$BUILD/kernels/lockstep_bench_cuda" --benchmark_filter='^mma_attn_' \
  --benchmark_out="$OUT/bench-attn.json" --benchmark_out_format=json >"$OUT/bench-attn.txt" 2>"$OUT/bench-attn.err" || rc=1
say "benchmarks ($((SECONDS - t0)) s)"
python3 - "$OUT/bench-attn.json" <<'EOF' | tee -a "$SUMMARY"
import json, sys
try:
    runs = json.load(open(sys.argv[1]))["benchmarks"]
except Exception as e:  # cut off or failed: the raw text is in bench-attn.txt
    print("no benchmark JSON:", e)
    sys.exit(0)
rows = {}
for r in runs:
    if r.get("run_type") == "aggregate":
        continue
    case, impl = r["name"].replace("/manual_time", "").rsplit("/", 1)
    rate = r.get("TFLOP/s") if "prefill" in case else r.get("GB/s")
    rows.setdefault(case, {})[impl] = (r["real_time"], rate)
print("| case | mma us | old us | stock us | mma rate | stock rate | time mma/stock | time old/mma |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for case in sorted(rows):
    c = rows[case]
    t = {k: c[k][0] for k in c}
    f = lambda k: f"{t[k]:.1f}" if k in t else "-"
    rate = lambda k: f"{c[k][1]:.1f}" if k in c and c[k][1] else "-"  # the counters are rates already
    ratio = lambda a, b: f"{t[a] / t[b]:.2f}" if a in t and b in t else "-"
    print(f"| {case} | {f('ours_mma')} | {f('ours_old')} | {f('stock')} | {rate('ours_mma')} | {rate('stock')} |"
          f" {ratio('ours_mma', 'stock')} | {ratio('ours_old', 'ours_mma')} |")
print("(rates: TFLOP/s for prefill, GB/s of K and V for decode)")
EOF
exit "$rc"

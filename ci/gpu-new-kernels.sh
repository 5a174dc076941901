#!/usr/bin/env bash
# One device call (~9 minutes of an H100) for the CUDA kernels written after the last device log
# and not yet run on a GPU: the tensor-core attention (LOCKSTEP_ATTENTION_MMA=1), portable mode's
# fp32 GEMM (default path), gemm_small_m v3 (LOCKSTEP_GEMM_SMALL_M=1), the norms' weight reads.
# From a `git archive` in .cur/ (ci/gpu-final.sh says how), carry .deps .cur:
#   cd .cur && ln -s ../.deps .deps && LOCKSTEP_COMMIT=<hash> bash ci/gpu-new-kernels.sh
# Stages, each one's log in $OUT as it ends; $OUT/new-kernels.txt is the summary:
#   build (sm_90a) -> the new kernels' tests -> today's attention suites with the mma switch on ->
#   mma attention vs today's vs stock SDPA -> portable GEMM vs cuBLAS fp32 -> gemv_probe (v3's bits
#   against the pinned plan) -> norms -> the bf16 GEMM shapes the last call did not reach.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
start_summary new-kernels.txt
t0=$SECONDS
gpu_build -DTORCH_CUDA_ARCH_LIST=9.0a kernels_test lockstep_bench_cuda lockstep_gemv_probe
say "build $((SECONDS - t0)) s"
K="$BUILD/tests/kernels_test"
B="$BUILD/kernels/lockstep_bench_cuda"
tests() {   # name limit filter [env assignments...]
  local name="$1" limit="$2" filter="$3" t0=$SECONDS
  shift 3
  env "$@" timeout "$limit" "$K" --gtest_filter="$filter" >"$OUT/tests-$name.log" 2>&1
  say "$name ($((SECONDS - t0)) s): $(grep -E '^\[  (PASSED|FAILED)|^\[  SKIPPED \] [0-9]' "$OUT/tests-$name.log" | tr '\n' ' ')"
  grep -E '^\[  FAILED  \] [A-Z]|what\(\)|Segmentation|illegal|Failure' "$OUT/tests-$name.log" | head -25 | tee -a "$SUMMARY"
}
bench() {   # name limit filter
  local t0=$SECONDS
  timeout "$2" "$B" --benchmark_filter="$3" --benchmark_out="$OUT/bench-$1.json" --benchmark_out_format=json \
    >"$OUT/bench-$1.txt" 2>&1
  say "bench $1 ($((SECONDS - t0)) s)"
}
tests new 130 'CudaAttentionMma*:*/CudaAttentionMma.*:*Portable*:CudaGemmPlan.*:FusedCuda*:Ops/BackendOpsTable.*cuda*' \
  LOCKSTEP_GEMM_SMALL_M=1
tests switch-on 80 'CudaAttention.*:CudaAttentionModes.*:CudaAttentionStock.*:Table/CudaAttention.*:PagedAttentionCuda.*' \
  LOCKSTEP_ATTENTION_MMA=1
bench attn 90 '^mma_attn_(prefill_bf16/.*(T=2048|T=8192)|decode)'
bench portable 50 '^gemm_fp32_portable/'
t0=$SECONDS
timeout 30 "$BUILD/kernels/lockstep_gemv_probe" >"$OUT/probe.txt" 2>&1
say "gemv_probe ($((SECONDS - t0)) s): $(tail -2 "$OUT/probe.txt" | tr '\n' ' ')"
bench norm 30 '^norm/'
bench gemm 30 'gemm_bf16/(smollm2_135m/(gate_up|down)|llama3_8b/k_v)/.*/M=(1|16|64|1024|4096)/'
say "done $SECONDS s"

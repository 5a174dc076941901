#!/usr/bin/env bash
# Nsight Compute profiles of the kernels issue 20 still misses with (one device call, ~4 minutes):
# the tensor-core prefill attention (attention_walk, T = 8192, D = 128, GQA 32/8), the tensor-core
# decode split (attention_split_mma, Tk = 4096, batch 16) and the portable fp32 GEMM's worst shape
# (smollm2 down, M = 256, tile_kernel). From a `git archive` in .cur/ (ci/gpu-final.sh says how),
# carry .deps .cur:
#   cd .cur && ln -s ../.deps .deps && LOCKSTEP_COMMIT=<hash> bash ci/gpu-ncu.sh
# $OUT/ncu.txt is the summary (speed of light, occupancy, the warp stall reasons); $OUT/<name>.txt
# each kernel's full details page; the reports themselves come back in $OUT/ncu-reps.tgz.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
start_summary ncu.txt
NCU="$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)"
[[ -x "$NCU" ]] || { say "no ncu in this image"; exit 3; }
say "ncu: $("$NCU" --version | tail -1)"
t0=$SECONDS
gpu_build -DTORCH_CUDA_ARCH_LIST=9.0a lockstep_bench_cuda
say "build $((SECONDS - t0)) s"
B="$BUILD/kernels/lockstep_bench_cuda"
mkdir -p "$OUT/reps"
profile() {   # name kernel-regex benchmark-filter
  local name="$1" t0=$SECONDS
  timeout 200 "$NCU" --set full -k "regex:$2" --launch-skip 3 -c 1 -f -o "$OUT/reps/$name" \
    "$B" --benchmark_filter="$3" >"$OUT/reps/$name.log" 2>&1
  "$NCU" --import "$OUT/reps/$name.ncu-rep" --page details >"$OUT/$name.txt" 2>&1
  say "== $name ($((SECONDS - t0)) s)"
  grep -E "ERR|==ERROR==" "$OUT/reps/$name.log" | head -5 | tee -a "$SUMMARY"
  grep -E "^\s+(Duration|DRAM Throughput|Memory Throughput|Compute \(SM\) Throughput|L1/TEX Hit Rate|L2 Hit Rate|Achieved Occupancy|Theoretical Occupancy|Registers Per Thread|Dynamic Shared Memory Per Block|Static Shared Memory Per Block|Block Limit [A-Za-z ]+|Executed Ipc Active|Issue Slots Busy|No Eligible|Warp Cycles Per Issued Instruction|Grid Size|Block Size|Waves Per SM)\b" \
    "$OUT/$name.txt" | tee -a "$SUMMARY"
  grep -E "^\s+(OPT|INF)\s" -A2 "$OUT/$name.txt" | head -40 | tee -a "$SUMMARY"
}
profile prefill 'attention_walk' 'mma_attn_prefill_bf16/H=32/KV=8/D=128/causal/T=8192/B=1/ours_mma'
profile decode 'attention_(split_mma|walk)' 'mma_attn_decode_bf16/H=32/KV=32/D=128/Tk=4096/B=16/ours_mma'
profile portable_down 'tile_kernel' 'gemm_fp32_portable/smollm2_down/N=576/K=1536/M=256/portable'
tar -czf "$OUT/ncu-reps.tgz" -C "$OUT" reps && rm -rf "$OUT/reps"
say "done $SECONDS s"

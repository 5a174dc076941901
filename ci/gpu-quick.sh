#!/usr/bin/env bash
# The short device check of a commit, for a call with little device time
# left (each stage's output lands in $OUT as it finishes, so a call cut off
# still returns what it did). From a `git archive` in .cur/ (ci/gpu-final.sh
# says how), carry .deps .tok .cur:
#   cd .cur && ln -s ../.deps .deps && ln -s ../.tok .tok && LOCKSTEP_COMMIT=<hash> bash ci/gpu-quick.sh
# In order: build (Release, CUDA); kernels_test's CUDA suites (the backend
# table, GEMM plans, attention, fused ops; not the 10^6-row token choice);
# DecodeGraphsCuda and EngineCuda on a random model of SmolLM2's shapes
# (graphs == eager in both modes, co-batched bits); then `lockstep throughput`
# on that model, batch_invariant against the stock baseline with its
# piecewise graphs and without (--no-graphs). $OUT/quick.txt is the summary.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
SUMMARY="$OUT/quick.txt"
SMOL=/tmp/lockstep-smollm2-shape
say() { echo "$@" | tee -a "$SUMMARY"; }
rc=0

say "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader | tee -a "$SUMMARY"
python3 ci/make_random_llama.py --out "$SMOL" --smollm2 --tokenizer-from .tok >"$OUT/smol-model.txt" 2>&1 &
t0=$SECONDS
gpu_build kernels_test core_test lockstep
say "build ok ($((SECONDS - t0)) s)"

t0=$SECONDS
timeout 200 "$BUILD/tests/kernels_test" --gtest_filter='*BackendOps*:Cuda*:*Cuda.*:Registered*:PagedAttention*:Attention*:-TokenChoiceCuda.*' \
  >"$OUT/kernels-test.log" 2>&1 || rc=1
say "kernels_test CUDA suites ($((SECONDS - t0)) s): $(grep -E '^\[  (PASSED|FAILED)' "$OUT/kernels-test.log" | tr '\n' ' ')"
grep -E "^\[  FAILED  \] [A-Z]|known gap" "$OUT/kernels-test.log" | head -12 | tee -a "$SUMMARY"

wait || { cat "$OUT/smol-model.txt"; exit 3; }
t0=$SECONDS
LOCKSTEP_ENGINE_MODEL="$SMOL" timeout 150 "$BUILD/tests/core_test" --gtest_filter='DecodeGraphsCuda.*:EngineCuda.*' \
  >"$OUT/graphs-tests.log" 2>&1 || rc=1
say "DecodeGraphsCuda + EngineCuda, SmolLM2 shapes ($((SECONDS - t0)) s): $(grep -E '^\[  (PASSED|FAILED)' "$OUT/graphs-tests.log" | tr '\n' ' ')"
grep -E "^mode |Failure|FAILED  \] [A-Z]" "$OUT/graphs-tests.log" | head -10 | tee -a "$SUMMARY"

run_throughput() {   # mode [extra args]
  local mode="$1"
  shift
  timeout 60 "$BUILD/harness/lockstep" throughput --model "$SMOL" --device cuda --dtype bf16 --mode "$mode" \
    --batches 1,32 --prompt-tokens 64 --new-tokens 64 --repeats 2 "$@" 2>>"$OUT/throughput.log" | tee -a "$SUMMARY" || rc=1
}
run_throughput batch_invariant
run_throughput off
run_throughput off --no-graphs
exit "$rc"

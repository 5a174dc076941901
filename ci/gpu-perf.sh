#!/usr/bin/env bash
# The engine's speed and bits on the lent GPU, in ONE call (the machine goes
# back 30 s after a call, so nothing is staged across calls). Carry .deps and
# .tok (ci/GPU.md says how to fill them):
#   run(command="LOCKSTEP_COMMIT=$(git rev-parse --short HEAD) bash ci/gpu-perf.sh", carry=[".deps", ".tok"])
# Builds (Release, CUDA), writes the random 1.07B Llama and a random model of
# SmolLM2-135M's shapes (ci/make_random_llama.py; same speed as the real one,
# whose 93 MB file does not fit a call), then, each step under a time limit:
#   checks: kernels_test (paged + attention + fused + GEMM kernels, CUDA; step choice: token choice on 10^6 rows), core_test
#   EngineCuda / EngineProperty (1B)
#   lockstep throughput for both models, mode off and batch_invariant (and batch_invariant
#   --no-pipeline, and sampled for the 1B), batches 1 and 32, prompt 64, 64 new tokens, with a Kineto trace of batch 32
#   transformers generate() on the 1B model, stock and with lockstep's kernels
#   lockstep compare --one-engine (the 1000 + 1000 experiment) per mode
#   fuse (not default): the fused projections (one GEMM for q/k/v, one for gate/up: the default) against
#     LOCKSTEP_FUSE_PROJECTIONS=0 (separate GEMMs): the ci-gate cases' proofs of both models compared at
#     the bits level, and throughput
#   ab (not default): the bits of the tree in $LOCKSTEP_AB_TREE (default .snap: `git archive` of an
#     earlier commit, carried) against this one's: the nightly cases (long prompts: many attention
#     splits) on the SmolLM2-shaped model and ci-gate's on the 1B, alone and all batched together,
#     proofs compared at the bits level. A change meant to keep the bits shows 0 differing cases.
#   decode (not default): batch 1 of both models, cuBLASLt and the opt-in decode GEMM (LOCKSTEP_GEMM_SMALL_M=1)
#   stock (not default): the stock baseline (mode off) with piecewise CUDA graphs against eager and against
#     batch_invariant, both models, batches 1 and 32; DecodeGraphsCuda (graphs == eager in both modes) and
#     EngineCuda on the SmolLM2-shaped model
#   probe (not default): kernels/bench/gemv_probe.cu, whether a small-M mma.sync kernel gives the pinned
#     GEMM plan's bits, and its time beside cuBLAS's
# LOCKSTEP_PERF_STEPS (default "test choice bench hf compare") picks steps, LOCKSTEP_PERF_TARGETS the build targets.
# Logs and tables in $OUT: perf.txt (the summary), *.log, trace-*.txt.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
STEPS="${LOCKSTEP_PERF_STEPS:-test choice bench hf compare}"
BIG=/tmp/lockstep-1b
SMOL=/tmp/lockstep-smollm2-shape
LSK="$BUILD/harness/lockstep"
SUMMARY="$OUT/perf.txt"
rc=0
say() { echo "$@" | tee -a "$SUMMARY"; }
has() { [[ " $STEPS " == *" $1 "* ]]; }

say "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown} steps: $STEPS"
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader | tee -a "$SUMMARY"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' | tee -a "$SUMMARY"

# One deadline for the whole call (the call limit is 600 s): every step's
# timeout is the smaller of its own and what is left, in priority order.
DEADLINE=$((SECONDS + ${LOCKSTEP_PERF_BUDGET_S:-560}))
limit() { local left=$((DEADLINE - SECONDS)); ((left < $1)) && echo $((left > 5 ? left : 5)) || echo "$1"; }
python3 ci/make_random_llama.py --out "$BIG" --tokenizer-from .tok >"$OUT/big-model.txt" 2>&1 &   # beside the build
MODEL_PID=$!
t0=$SECONDS
read -ra targets <<<"${LOCKSTEP_PERF_TARGETS:-lockstep core_test kernels_test lockstep_kernels}"
has probe && targets+=(lockstep_gemv_probe)
gpu_build "${targets[@]}"
say "build ok ($((SECONDS - t0)) s)"
wait "$MODEL_PID" || { cat "$OUT/big-model.txt"; exit 3; }
cat "$OUT/big-model.txt" | tee -a "$SUMMARY"
AB_BUILD=/tmp/build-ab
if has ab; then   # the earlier tree builds beside the GPU steps (they leave the CPU idle)
  AB_TREE="$(cd "${LOCKSTEP_AB_TREE:-.snap}" && pwd)" || exit 3
  (GPU_BUILD_SOURCE="$AB_TREE" BUILD="$AB_BUILD" GPU_BUILD_LOG=ab- gpu_build lockstep) &
  AB_PID=$!
fi

smol_model() {   # the SmolLM2-shaped random model, written once by the first step that needs it
  [[ -d "$SMOL" ]] || python3 ci/make_random_llama.py --out "$SMOL" --smollm2 --tokenizer-from .tok | tee -a "$SUMMARY"
}

throughput() {   # model mode [extra args]
  local m="$1" mode="$2" name
  name="$(basename "$1")-$2${TAG:-}"
  shift 2
  timeout "$(limit 70)" "$LSK" throughput --model "$m" --device cuda --dtype bf16 --mode "$mode" --batches "${BATCHES:-1,32}" \
    --prompt-tokens 64 --new-tokens 64 --repeats 2 --profile "$OUT/$name.trace.json" "$@" 2>"$OUT/throughput-$name.log" |
    tee -a "$SUMMARY" || { rc=1; tail -3 "$OUT/throughput-$name.log" | tee -a "$SUMMARY"; }
  python3 ci/trace_summary.py "$OUT/$name.trace.json" --top 15 >"$OUT/trace-$name.txt" 2>&1 &&
    head -1 "$OUT/trace-$name.txt" | tee -a "$SUMMARY"
  rm -f "$OUT/$name.trace.json"
}

if has probe; then   # does an mma.sync chain over K give the pinned cuBLASLt plan's bits? (kernels/bench/gemv_probe.cu)
  timeout "$(limit 60)" "$BUILD/kernels/lockstep_gemv_probe" 2>&1 | tee -a "$SUMMARY"
fi
if has test; then
  t0=$SECONDS
  timeout "$(limit 60)" "$BUILD/tests/kernels_test" --gtest_filter='PagedAttention*:*Attention*:Registered*:Fused*:CudaGemm*' >"$OUT/kernels-test.log" 2>&1 || rc=1
  say "kernels_test paged + attention + fused + gemm: $(grep -E '^\[  (PASSED|FAILED)' "$OUT/kernels-test.log" | tr '\n' ' ') ($((SECONDS - t0)) s)"
  grep -E "^\[  FAILED  \] [A-Z]|Failure|max diff" "$OUT/kernels-test.log" | head -12 | tee -a "$SUMMARY"
  t0=$SECONDS   # the GEMM tests again with the opt-in decode kernel: its rows against cuBLASLt's, bit for bit
  LOCKSTEP_GEMM_SMALL_M=1 timeout "$(limit 60)" "$BUILD/tests/kernels_test" --gtest_filter='CudaGemm*' \
    >"$OUT/kernels-test-small-m.log" 2>&1 || rc=1
  say "kernels_test CudaGemm* with LOCKSTEP_GEMM_SMALL_M=1: $(grep -E '^\[  (PASSED|FAILED)|^\[ small-M' "$OUT/kernels-test-small-m.log" | tr '\n' ' ') ($((SECONDS - t0)) s)"
fi
if has choice; then
  t0=$SECONDS   # the device's token choice against the host's on 10^6 random rows
  timeout "$(limit 120)" "$BUILD/tests/kernels_test" --gtest_filter='TokenChoice*' >"$OUT/token-choice.log" 2>&1 || rc=1
  say "kernels_test TokenChoice*: $(grep -E '^\[  (PASSED|FAILED)|^\[ cases' "$OUT/token-choice.log" | tr '\n' ' ') ($((SECONDS - t0)) s)"
  grep -E "Failure|Which is|call [0-9]+ row" "$OUT/token-choice.log" | head -8 | tee -a "$SUMMARY"
fi
if has bench; then
  for mode in batch_invariant off; do throughput "$BIG" "$mode"; done
  TAG=-no-pipeline throughput "$BIG" batch_invariant --no-pipeline   # what launching step t+1 before t's records gains
  TAG=-sampled throughput "$BIG" batch_invariant --temperature 0.8 --top-p 0.95 --seed 1   # tokens chosen on the device
fi
if has stock; then   # the honest stock baseline: mode off through the same engine, graphs on (piecewise) and off
  smol_model
  t0=$SECONDS
  LOCKSTEP_ENGINE_MODEL="$SMOL" timeout "$(limit 120)" "$BUILD/tests/core_test" \
    --gtest_filter='DecodeGraphsCuda.*:EngineCuda.*' >"$OUT/graphs-tests.log" 2>&1 || rc=1
  say "DecodeGraphsCuda + EngineCuda (SmolLM2 shapes): $(grep -E '^\[  (PASSED|FAILED)' "$OUT/graphs-tests.log" | tr '\n' ' ') ($((SECONDS - t0)) s)"
  grep -E "^mode |Failure|FAILED  \] [A-Z]|what\(\)|error" "$OUT/graphs-tests.log" | head -10 | tee -a "$SUMMARY"
  for m in "$BIG" "$SMOL"; do
    throughput "$m" batch_invariant
    throughput "$m" off
    TAG=-no-graphs throughput "$m" off --no-graphs
  done
fi
if has decode; then   # batch 1 only, both models: cuBLASLt against the opt-in decode GEMM (gemm_small_m.cu)
  smol_model
  for m in "$BIG" "$SMOL"; do
    BATCHES=1 TAG=-b1 throughput "$m" batch_invariant
    LOCKSTEP_GEMM_SMALL_M=1 BATCHES=1 TAG=-b1-small-m throughput "$m" batch_invariant
  done
fi
if has test; then
  t0=$SECONDS
  LOCKSTEP_ENGINE_MODEL="$BIG" timeout "$(limit 100)" "$BUILD/tests/core_test" --gtest_filter='EngineCuda.*' \
    >"$OUT/engine-tests.log" 2>&1 || rc=1
  say "EngineCuda (SmolLM2 absent: 1B only): $(grep -E '^\[  (PASSED|FAILED)' "$OUT/engine-tests.log" | tr '\n' ' ') ($((SECONDS - t0)) s)"
  grep -E "^mode |Failure|FAILED  \] [A-Z]|what\(\)|error" "$OUT/engine-tests.log" | head -10 | tee -a "$SUMMARY"
fi
if has hf; then
  for k in stock batch_invariant; do
    LOCKSTEP_KERNELS_LIB="$BUILD/kernels/liblockstep_kernels.so" timeout "$(limit 70)" python3 ci/hf_generate_bench.py \
      --model "$BIG" --kernels "$k" --batches 1,32 --repeats 1 2>"$OUT/hf-$k.log" | tee -a "$SUMMARY" ||
      { rc=1; tail -3 "$OUT/hf-$k.log" | tee -a "$SUMMARY"; }
  done
fi
if has bench; then
  smol_model
  throughput "$SMOL" batch_invariant
  TAG=-no-pipeline throughput "$SMOL" batch_invariant --no-pipeline
  BATCHES=1 TAG=-b1 throughput "$SMOL" batch_invariant   # the trace of batch 1 (the others trace batch 32)
  LOCKSTEP_GEMM_LOG=1 BATCHES=1 TAG=-b1 throughput "$BIG" batch_invariant   # its log holds the GEMM plans
  for m in "$BIG" "$SMOL"; do   # the opt-in decode GEMM (kernels/cuda/gemm_small_m.cu) against cuBLASLt
    LOCKSTEP_GEMM_SMALL_M=1 BATCHES=1 TAG=-b1-small-m throughput "$m" batch_invariant
  done
  timeout "$(limit 40)" "$LSK" throughput --model "$BIG" --device cuda --dtype bf16 --mode batch_invariant --batches 32 \
    --prompt-tokens 64 --new-tokens 64 --no-digests 2>/dev/null | sed 's/^/no digests: /' | tee -a "$SUMMARY"
fi
if has test; then
  t0=$SECONDS
  LOCKSTEP_PROPERTY_MODEL="$BIG" LOCKSTEP_PROPERTY_DEVICE=cuda timeout "$(limit 200)" "$BUILD/tests/core_test" \
    --gtest_filter='EngineProperty.*' >"$OUT/engine-property.log" 2>&1 || rc=1
  say "EngineProperty (1B, CUDA): $(grep -E '^\[  (PASSED|FAILED)' "$OUT/engine-property.log" | tr '\n' ' ') ($((SECONDS - t0)) s)"
  grep -E "^(batch_invariant|mode off|prefix)|Failure|FAILED  \] [A-Z]" "$OUT/engine-property.log" | head -12 | tee -a "$SUMMARY"
fi
if has test; then   # the co-batched gate on the GPU: ci-gate's batch plan, every run vs its solo bits
  smol_model
  t0=$SECONDS
  timeout "$(limit 120)" "$LSK" verify --suite suites/ci-gate.json --model "$SMOL" --device cuda --dtype bf16 --runs 2 \
    --processes 0 --out-dir "$OUT/gate" >"$OUT/gate.log" 2>&1 || rc=1
  say "co-batched ci-gate plan on the GPU (SmolLM2-shaped random model, bf16, no golden; $((SECONDS - t0)) s):"
  grep -E "PASS|FAIL|first failure|round .* done" "$OUT/gate.log" | head -8 | tee -a "$SUMMARY"
fi
if has fuse; then
  smol_model
  for m in "$SMOL" "$BIG"; do
    for f in 0 1; do
      LOCKSTEP_FUSE_PROJECTIONS=$f timeout "$(limit 60)" "$LSK" verify --suite suites/ci-gate.json --model "$m" \
        --device cuda --dtype bf16 --runs 1 --processes 0 --no-batch-plan --out-dir "$OUT/fuse-$f" \
        --proof-out "$OUT/$(basename "$m")-fuse$f.proof.json" >"$OUT/fuse-$(basename "$m")-$f.log" 2>&1 || rc=1
    done
    say "fused projections, $(basename "$m"), ci-gate cases, separate vs fused GEMMs at the bits level:"
    "$LSK" proof diff "$OUT/$(basename "$m")-fuse0.proof.json" "$OUT/$(basename "$m")-fuse1.proof.json" --level bits \
      2>&1 | tail -4 | tee -a "$SUMMARY"
  done
  for m in "$BIG" "$SMOL"; do   # the separate GEMMs beside, unless bench measured them in this call
    LOCKSTEP_FUSE_PROJECTIONS=0 TAG=-separate throughput "$m" batch_invariant
    has bench || TAG=-fused throughput "$m" batch_invariant
  done
fi
if has ab; then
  t0=$SECONDS
  wait "$AB_PID" || { rc=1; say "ab: the earlier tree did not build"; grep -E "error" "$OUT/ab-build.log" | head; }
  say "ab: earlier tree built ($((SECONDS - t0)) s waited)"
  smol_model
  # LOCKSTEP_AB_AFTER_ENV: variables for this tree's side only (e.g. LOCKSTEP_GEMM_SMALL_M=1);
  # LOCKSTEP_AB_SMOL_ONLY=1 leaves the 1B out (a short call).
  pairs=("$SMOL:suites/nightly.json")
  [[ "${LOCKSTEP_AB_SMOL_ONLY:-0}" == 1 ]] || pairs+=("$BIG:suites/ci-gate.json")
  for pair in "${pairs[@]}"; do
    m="${pair%%:*}" suite="${pair#*:}"
    for side in before after; do
      bin="$LSK"
      read -ra side_env <<<"${LOCKSTEP_AB_AFTER_ENV:-}"
      [[ $side == before ]] && bin="$AB_BUILD/harness/lockstep" side_env=()
      env "${side_env[@]}" timeout "$(limit 120)" "$bin" verify --suite "$suite" --model "$m" --device cuda --dtype bf16 --runs 2 \
        --processes 0 --no-batch-plan --out-dir "$OUT/ab-$side" --proof-out "$OUT/$(basename "$m")-$side.proof.json" \
        >"$OUT/ab-$(basename "$m")-$side.log" 2>&1 || { rc=1; tail -3 "$OUT/ab-$(basename "$m")-$side.log"; }
    done
    say "ab: $(basename "$m"), $suite, earlier tree vs this one at the bits level:"
    "$LSK" proof diff "$OUT/$(basename "$m")-before.proof.json" "$OUT/$(basename "$m")-after.proof.json" --level bits \
      2>&1 | tail -4 | tee -a "$SUMMARY"
  done
fi
if has compare; then
  t0=$SECONDS
  timeout "$(limit 300)" "$LSK" compare --model "$BIG" --device cuda --dtype bf16 --one-engine --runs 1000 --fillers 1000 \
    --decode-tokens 100 --max-batch 64 --out-dir "$OUT/compare" >"$OUT/compare.log" 2>&1 || rc=1
  say "compare --one-engine, 1000 + 1000 requests ($((SECONDS - t0)) s):"
  tail -6 "$OUT/compare.log" | tee -a "$SUMMARY"
fi
say "== done rc=$rc ($SECONDS s)"
# Few files come back from a call: everything but the summary goes into one archive.
(cd "$OUT" && tar czf /tmp/lockstep-logs.tgz --exclude=./perf.txt . && find . -mindepth 1 -maxdepth 1 \
  ! -name perf.txt -exec rm -rf {} + && mv /tmp/lockstep-logs.tgz logs.tgz)
exit "$rc"

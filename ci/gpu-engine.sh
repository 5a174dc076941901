#!/usr/bin/env bash
# The engine on the lent GPU (issue 4's acceptance): bf16 greedy generation
# of SmolLM2-135M and of a ~1B Llama-shaped random-weight model on CUDA, the
# concurrency property test there (EngineCuda.*: 40 concurrent requests,
# batches up to 32, every one bitwise equal to its solo run), and tokens/s at
# batch 1 and 32 with the invariant mode on and off. Three calls (the carry
# limit is 64 MiB; ci/device-prepare.sh fills the folders, and
# `python3 ... save_pretrained` fills .tok/, see ci/GPU.md):
#   LOCKSTEP_GPU_STAGE=build  carry .deps .snap .tok   build, make the 1B model
#   LOCKSTEP_GPU_STAGE=stage  carry .model-a           stage part a of the GGUF
#   LOCKSTEP_GPU_STAGE=run    carry .model-b .snap     tests + throughput
#   LOCKSTEP_GPU_STAGE=dtypes (after build; no GGUF needed) the 1B model in fp16
#                             and fp32: greedy run + the property test
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
STAGE_DIR=/tmp/lockstep-model
BIG=/tmp/lockstep-1b
MODEL="$STAGE_DIR/model.gguf"

case "${LOCKSTEP_GPU_STAGE:?set LOCKSTEP_GPU_STAGE to build, stage or run}" in
build)
  {
    echo "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"
    nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  } 2>&1 | tee "$OUT/device.txt"
  gpu_build -DLOCKSTEP_DEFAULT_MODEL="$MODEL" lockstep core_test
  echo "build ok"
  python3 ci/make_random_llama.py --out "$BIG" --tokenizer-from .tok | tee "$OUT/big-model.txt"
  ;;
stage)
  mkdir -p "$STAGE_DIR" && cp .model-a/* "$STAGE_DIR/" && ls -la "$STAGE_DIR"
  ;;
run)
  cat "$STAGE_DIR/lockstep-model-part-aa" .model-b/lockstep-model-part-ab >"$MODEL"
  [[ "$(sha256sum "$MODEL" | cut -d' ' -f1)" == "$(cat .model-b/SHA256)" ]] || { echo "model parts do not match"; exit 3; }
  LSK="$BUILD/harness/lockstep"
  rc=0
  echo "== greedy bf16 on CUDA"
  for m in "$MODEL" "$BIG"; do
    "$LSK" run --model "$m" --device cuda --dtype bf16 --max-new-tokens 32 --prompt "What is the capital of France?" \
      --json >"$OUT/run-$(basename "$m").json" 2>&1 || rc=1
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[1].split("/")[-1], r["stop_reason"], len(r["output_ids"]), "tokens:", repr(r["text"][:80]))' \
      "$OUT/run-$(basename "$m").json" || rc=1
  done
  echo "== concurrency property (EngineCuda, EngineTest)"
  LOCKSTEP_ENGINE_MODEL="$BIG" "$BUILD/tests/core_test" --gtest_filter='EngineCuda.*:EngineTest.*' \
    --gtest_output="xml:$OUT/engine-tests.xml" >"$OUT/engine-tests.log" 2>&1 || rc=1
  grep -E "^mode |OK \]|FAILED|PASSED|SKIPPED" "$OUT/engine-tests.log" | tail -20
  echo "== engine property (200 requests, 8 threads, prompts to 2048, sampling, prefix reuse) on the 1B model"
  LOCKSTEP_PROPERTY_MODEL="$BIG" LOCKSTEP_PROPERTY_DEVICE=cuda "$BUILD/tests/core_test" --gtest_filter='EngineProperty.*' \
    --gtest_output="xml:$OUT/engine-property.xml" >"$OUT/engine-property.log" 2>&1 || rc=1
  grep -E "^(batch_invariant|mode off|prefix)|OK \]|FAILED|PASSED" "$OUT/engine-property.log" | tail -12
  echo "== throughput (bf16, CUDA, prompt 64, 64 new tokens)"
  for m in "$MODEL" "$BIG"; do
    for mode in off batch_invariant; do
      "$LSK" throughput --model "$m" --device cuda --dtype bf16 --mode "$mode" --batches 1,32 --prompt-tokens 64 \
        --new-tokens 64 --repeats 2 2>/dev/null | tee -a "$OUT/throughput.txt" || rc=1
    done
  done
  exit "$rc"
  ;;
dtypes)
  rc=0
  for dtype in fp16 fp32; do
    echo "== $dtype"
    "$BUILD/harness/lockstep" run --model "$BIG" --device cuda --dtype "$dtype" --max-new-tokens 16 --prompt "Hello" \
      --json >"$OUT/run-1b-$dtype.json" 2>&1 || { rc=1; tail -5 "$OUT/run-1b-$dtype.json"; }
    LOCKSTEP_ENGINE_DTYPE="$dtype" LOCKSTEP_ENGINE_MODEL="$BIG" "$BUILD/tests/core_test" \
      --gtest_filter='EngineCuda.*' >"$OUT/engine-$dtype.log" 2>&1 || rc=1
    grep -E "^mode |OK \]|FAILED|PASSED|SKIPPED" "$OUT/engine-$dtype.log" | tail -8
  done
  exit "$rc"
  ;;
*) echo "unknown LOCKSTEP_GPU_STAGE" >&2; exit 2 ;;
esac

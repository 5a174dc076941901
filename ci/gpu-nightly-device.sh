#!/usr/bin/env bash
# The nightly suite (suites/nightly.json: the 43 tiers prompts, with its batch plan: batches of 8,
# 32 and 64 with seeded fillers, joins mid-decode each way) on the lent GPU, against the committed
# sm90 golden, in two calls (the 93 MB model does not fit one carry; ci/device-prepare.sh with
# LOCKSTEP_MODEL_SPLIT=37M first, so that .deps and part a fit):
#   LOCKSTEP_GPU_STAGE=build  carry .deps .model-a   build lockstep (CUDA, Release), stage part a
#   LOCKSTEP_GPU_STAGE=run    carry .model-b         join the model; lockstep verify --suite
#                                                    suites/nightly.json --device cuda --dtype bf16
#                                                    --golden golden/smollm2-135m-instruct/sm90.proof.json
# The second call must come while the machine is warm (30 s). $OUT/nightly.txt is the summary;
# results.json and the log come back too. LOCKSTEP_NIGHTLY_ARGS adds verify options
# (default "--runs 2 --processes 1").
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
LSK="$BUILD/harness/lockstep"

case "${LOCKSTEP_GPU_STAGE:?set LOCKSTEP_GPU_STAGE to build or run}" in
build)
  { echo "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"
    nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader; } 2>&1 | tee "$OUT/nightly.txt"
  mkdir -p "$STAGE_DIR" && cp .model-a/* "$STAGE_DIR/"
  start=$SECONDS
  gpu_build -DLOCKSTEP_DEFAULT_MODEL="$MODEL" lockstep
  echo "build ok in $((SECONDS - start)) s" | tee -a "$OUT/nightly.txt"
  ;;
run)
  join_model
  start=$SECONDS
  # shellcheck disable=SC2086  # LOCKSTEP_NIGHTLY_ARGS is a list of options
  timeout 540 "$LSK" verify --suite suites/nightly.json --model "$MODEL" --device cuda --dtype bf16 \
    --golden golden/smollm2-135m-instruct/sm90.proof.json ${LOCKSTEP_NIGHTLY_ARGS:---runs 2 --processes 1} \
    --out-dir "$OUT/nightly" >"$OUT/nightly.log" 2>&1
  rc=$?
  { echo "== nightly suite on the GPU, exit $rc in $((SECONDS - start)) s"
    grep -E "round .* done|PASS|FAIL|golden|first failure" "$OUT/nightly.log" | head -20
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('batch_sizes', d.get('batch_sizes')); print('rounds', d['settings'].get('batch_rounds'))" \
      "$OUT/nightly/results.json" 2>/dev/null; } | tee -a "$OUT/nightly.txt"
  exit "$rc"
  ;;
*) echo "LOCKSTEP_GPU_STAGE must be build or run" >&2; exit 2 ;;
esac

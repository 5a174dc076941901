#!/usr/bin/env bash
# `lockstep serve` under load on the lent GPU, in ONE call. Carry .deps and .tok (ci/GPU.md):
#   run(command="LOCKSTEP_COMMIT=<hash> bash ci/gpu-serve.sh", carry=[".deps", ".tok"])
# Builds lockstep (Release, CUDA, cpp-httplib from .deps), writes the random 1.07B Llama
# (ci/make_random_llama.py), serves it in bf16 with lockstep's kernels, and runs ci/serve-load.py:
# LOCKSTEP_LOAD_REQUESTS (2000) chat completions from suites/tiers.json at concurrency
# LOCKSTEP_LOAD_CONCURRENCY (64), then every kind alone: 0 errors and every answer equal to its solo
# bits is the pass. Then LOCKSTEP_LOAD_REQUESTS_OFF (256) with --mode off (stock cuBLAS/SDPA): the
# negative control, whose co-batched answers are expected to differ. Logs and load-*.json in $OUT; summary serve.txt.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
BIG=/tmp/lockstep-1b
LSK="$BUILD/harness/lockstep"
SUMMARY="$OUT/serve.txt"
REQUESTS="${LOCKSTEP_LOAD_REQUESTS:-2000}"
CONCURRENCY="${LOCKSTEP_LOAD_CONCURRENCY:-64}"
rc=0
say() { echo "$@" | tee -a "$SUMMARY"; }
say "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader | tee -a "$SUMMARY"
DEADLINE=$((SECONDS + ${LOCKSTEP_SERVE_BUDGET_S:-560}))
left() { echo $((DEADLINE - SECONDS > 5 ? DEADLINE - SECONDS : 5)); }

python3 ci/make_random_llama.py --out "$BIG" --tokenizer-from .tok >"$OUT/big-model.txt" 2>&1 &
MODEL_PID=$!
t0=$SECONDS
gpu_build -DLOCKSTEP_TESTS=OFF lockstep
grep -q "Found cpp-httplib" "$OUT/configure.log" || { say "cpp-httplib not found: carry .deps (ci/device-prepare.sh)"; exit 3; }
say "build ok ($((SECONDS - t0)) s)"
wait "$MODEL_PID" || { cat "$OUT/big-model.txt"; exit 3; }
head -3 "$OUT/big-model.txt" | tee -a "$SUMMARY"

load() {   # mode requests
  local mode="$1" requests="$2" log="$OUT/serve-$1.log" url="" pid
  "$LSK" serve --model "$BIG" --device cuda --dtype bf16 --mode "$mode" --port 0 --max-batch 64 \
    --max-concurrent "$CONCURRENCY" 2>"$log" &
  pid=$!
  for _ in $(seq 1 240); do
    url="$(grep -o 'listening on http://[0-9.:]*' "$log" | cut -d' ' -f3)"
    [[ -n "$url" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if [[ -z "$url" ]]; then say "serve ($mode) did not start:"; tail -20 "$log" | tee -a "$SUMMARY"; rc=1; return; fi
  say "serve ($mode): $url"
  timeout "$(left)" python3 ci/serve-load.py --url "$url" --requests "$requests" --concurrency "$CONCURRENCY" \
    --suite suites/tiers.json --max-tokens 64 --out "$OUT/load-$mode.json" >"$OUT/load-$mode.txt" 2>&1
  local code=$?
  tail -1 "$OUT/load-$mode.txt" | tee -a "$SUMMARY"
  kill -TERM "$pid"; wait "$pid"; say "serve ($mode) exit $? after SIGTERM: $(tail -1 "$log")"
  [[ $mode == off ]] || ((code == 0)) || rc=1
}
load batch_invariant "$REQUESTS"
load off "${LOCKSTEP_LOAD_REQUESTS_OFF:-256}"   # stock kernels: the engine is slow there (core/PERF.md)
say "exit $rc"
exit $rc

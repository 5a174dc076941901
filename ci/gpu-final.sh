#!/usr/bin/env bash
# The device log of a final commit (GPU ctest and the sm90 golden), in two
# calls on one warm machine, from a `git archive` of the commit in the
# git-ignored .cur/ (so work in progress in the tree stays behind):
#   rm -rf .cur && mkdir .cur && git archive HEAD -- . ':!measurements' | tar -x -C .cur
#   LOCKSTEP_MODEL_SPLIT=28M bash ci/device-prepare.sh       # .deps, .model-a, .model-b
#   then move parts ab and ac into .model-c (the tree itself, measurements/ moved aside, is ~5 MiB
#   of each call's 64 MiB):
#   1. cd .cur && ln -s ../.deps .deps && ln -s ../.model-a .model-a && ln -s ../.tok .tok &&
#      LOCKSTEP_GPU_STAGE=build bash ci/gpu-final.sh         carry .deps .cur .model-a .tok (58 MiB)
#      builds everything (Release, CUDA) with the embedded model's path to be, stages
#      part a of the model and runs ctest (the model's tests skip: it is not joined yet)
#   2. (at once: the machine goes back 30 s after a call) cd .cur && ln -s ../.model-c .model-c &&
#      LOCKSTEP_GPU_STAGE=stage bash ci/gpu-final.sh         carry .model-c (56 MiB): stages parts b, c
#   3. (at once) cd .cur && ln -s ../.model-b .model-b &&
#      LOCKSTEP_GPU_STAGE=run bash ci/gpu-final.sh           carry .model-b (the last part)
#      joins the model; graphs == eager and the engine's co-batched bits on it
#      (DecodeGraphsCuda, EngineCuda), then the nightly suite against
#      golden/smollm2-135m-instruct/sm90.proof.json (ci/gpu-nightly-device.sh), then
#      ci/gpu-perf.sh's steps in LOCKSTEP_PERF_STEPS if set (.tok is still there from call 1)
# $OUT/final.txt is the summary; ctest.log, model-tests.log, nightly.* (and perf.txt) come back too.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
SUMMARY="$OUT/final.txt"
say() { echo "$@" | tee -a "$SUMMARY"; }
rc=0

case "${LOCKSTEP_GPU_STAGE:?set LOCKSTEP_GPU_STAGE to build, stage or run}" in
build)
  say "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader | tee -a "$SUMMARY"
  mkdir -p "$STAGE_DIR" && cp .model-a/* "$STAGE_DIR/"
  t0=$SECONDS
  gpu_build -DLOCKSTEP_DEFAULT_MODEL="$MODEL"
  say "build ok ($((SECONDS - t0)) s)"
  t0=$SECONDS
  (cd "$BUILD" && timeout 420 ctest -j 10 --timeout 300 --output-junit "$OUT/ctest-junit.xml") >"$OUT/ctest.log" 2>&1 || rc=1
  say "ctest ($((SECONDS - t0)) s): $(grep -E 'tests passed' "$OUT/ctest.log")"
  grep -E '\*\*\*Failed|Timeout|Not Run' "$OUT/ctest.log" | head -20 | tee -a "$SUMMARY"
  ;;
stage)
  mkdir -p "$STAGE_DIR" && cp .model-c/lockstep-model-part-* "$STAGE_DIR/"
  say "staged $(ls "$STAGE_DIR" | tr '\n' ' ')"
  ;;
run)
  join_model
  say "== model joined: $(sha256sum "$MODEL" | cut -c1-16)"
  t0=$SECONDS
  timeout 200 "$BUILD/tests/core_test" --gtest_filter='DecodeGraphsCuda.*:EngineCuda.*' >"$OUT/model-tests.log" 2>&1 || rc=1
  say "DecodeGraphsCuda + EngineCuda on SmolLM2 ($((SECONDS - t0)) s): $(grep -E '^\[  (PASSED|FAILED)' "$OUT/model-tests.log" | tr '\n' ' ')"
  grep -E "^mode |Failure|FAILED  \] [A-Z]" "$OUT/model-tests.log" | head -10 | tee -a "$SUMMARY"
  LOCKSTEP_GPU_STAGE=run bash ci/gpu-nightly-device.sh || rc=1
  cat "$OUT/nightly.txt" >>"$SUMMARY"
  if [[ -n "${LOCKSTEP_PERF_STEPS:-}" ]]; then   # what is left of the call's 600 s
    LOCKSTEP_PERF_TARGETS=lockstep LOCKSTEP_PERF_BUDGET_S=$((570 - SECONDS)) bash ci/gpu-perf.sh || rc=1
  fi
  ;;
*) echo "LOCKSTEP_GPU_STAGE must be build, stage or run" >&2; exit 2 ;;
esac
exit "$rc"

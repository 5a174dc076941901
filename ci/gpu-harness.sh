#!/usr/bin/env bash
# The harness on the lent GPU (issues 5 and 6): the sm90 golden proof of the nightly suite, then
# ci/gpu-nightly.sh against it (one process per GPU, 3 runs + 2 fresh processes per case, sweep,
# compare stock vs invariant, reports). Three calls (the carry limit is 64 MiB; ci/device-prepare.sh
# fills .deps and the model parts, see ci/GPU.md):
#   LOCKSTEP_GPU_STAGE=build    carry .deps .snap    build lockstep (Release)
#   LOCKSTEP_GPU_STAGE=stage    carry .model-a       stage part a of the GGUF
#   LOCKSTEP_GPU_STAGE=nightly  carry .model-b .snap golden proof + nightly + reports into $OUT
#   LOCKSTEP_GPU_STAGE=compare  carry .model-b       `compare` (stock vs invariant) over a matrix of
#                                                    dtypes, target lengths, batch limits and decode
#                                                    lengths (LOCKSTEP_COMPARE_MATRIX: one config per
#                                                    line, the compare options), then `sweep --mode off`
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
LSK="$BUILD/harness/lockstep"

case "${LOCKSTEP_GPU_STAGE:?set LOCKSTEP_GPU_STAGE to build, stage or nightly}" in
build)
  {
    echo "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"
    nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv
  } 2>&1 | tee "$OUT/device.txt"
  gpu_build -DLOCKSTEP_DEFAULT_MODEL="$MODEL" lockstep
  echo "build ok"
  ;;
stage)
  mkdir -p "$STAGE_DIR" && cp .model-a/* "$STAGE_DIR/" && ls -la "$STAGE_DIR"
  ;;
nightly)
  join_model
  cmake --build "$BUILD" -j "$(nproc)" --target lockstep >"$OUT/build.log" 2>&1 ||
    { grep -E "error|Error" "$OUT/build.log" | head -40; exit 3; }
  SUITE="${LOCKSTEP_SUITE:-suites/nightly.json}"
  GOLDEN="$OUT/sm90.proof.json"
  echo "== golden: proof export of $SUITE (CUDA, bf16), one process"
  /usr/bin/time -f "%e s wall, %M KiB peak RSS" "$LSK" proof export --suite "$SUITE" --device cuda --dtype bf16 \
    --out "$GOLDEN" --out-dir "$OUT/export" 2>&1 | tail -4
  echo "== ci/gpu-nightly.sh against it (fresh processes)"
  rc=0
  LOCKSTEP_BIN="$LSK" /usr/bin/time -f "%e s wall" bash ci/gpu-nightly.sh --suite "$SUITE" --golden "$GOLDEN" \
    --out-dir "$OUT/nightly" || rc=$?
  for f in "$OUT"/nightly/*/lockstep.log "$OUT"/nightly/sweep.log "$OUT"/nightly/compare.log; do
    echo "-- $f"; grep -E "PASS|FAIL|golden|unique|differ" "$f" | tail -6 || true
  done
  # Few files come back from the device: the summary and the golden file loose, the rest in one archive.
  cp "$OUT/nightly/summary.md" "$OUT/summary.md" 2>/dev/null || true
  tar czf "$OUT/nightly-out.tgz" -C "$OUT" nightly export && rm -rf "$OUT/nightly" "$OUT/export"
  exit "$rc"
  ;;
compare)
  join_model
  # Each line: the compare options of one configuration (device cuda is added).
  MATRIX="${LOCKSTEP_COMPARE_MATRIX:-"--dtype fp32 --length 16 --decode-tokens 0 --runs 20 --max-batch 32
--dtype fp32 --length 1 --decode-tokens 8 --runs 20 --max-batch 32
--dtype bf16 --length 16 --decode-tokens 8 --runs 20 --max-batch 64
--dtype bf16 --length 64 --decode-tokens 16 --runs 20 --max-batch 64"}"
  n=0
  while IFS= read -r cfg; do
    [[ -n "$cfg" ]] || continue
    n=$((n + 1))
    echo "== compare $n: $cfg"
    # shellcheck disable=SC2086
    /usr/bin/time -f "compare $n: %e s wall" timeout "${LOCKSTEP_COMPARE_TIMEOUT:-150}" \
      "$LSK" compare --device cuda $cfg --out-dir "$OUT/compare-$n" >"$OUT/compare-$n.log" 2>&1 && rc=0 || rc=$?
    echo "exit $rc"; grep -E "unique|PASS|FAIL|wall|rror" "$OUT/compare-$n.log" | tail -4
  done <<<"$MATRIX"
  tar czf "$OUT/compare-out.tgz" -C "$OUT" $(cd "$OUT" && ls -d compare-*) && rm -rf "$OUT"/compare-[0-9]*
  ;;
*) echo "unknown LOCKSTEP_GPU_STAGE" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The nightly suite on one GPU machine: one lockstep process per GPU of the host (in parallel, each
# pinned with CUDA_VISIBLE_DEVICES), each writing a proof of its run; the proofs of the host's GPUs
# must agree bit for bit; then a sweep and a compare, and the HTML/JUnit/Markdown reports.
#
#   ci/gpu-nightly.sh (--golden FILE | --make-golden FILE) [--suite FILE=suites/nightly.json]
#                     [--out-dir DIR=lockstep-out/nightly] [--label NAME=<GPU name or cpu>]
#                     [--sweep-lengths 1,7,32] [--sweep-batches 1,2,4,8,16] [--compare-runs 20]
#                     [--compare-max-batch 32] [--allow-cpu]
#
#   --golden FILE       every GPU's run must reproduce this proof of the device class (e.g.
#                       golden/smollm2-135m-instruct/sm90.proof.json); required unless --make-golden
#   --make-golden FILE  golden-making mode: the first GPU's run writes FILE (--update-golden, only if
#                       that run is deterministic itself), the other GPUs must agree with it; the
#                       result is a proof to commit, reported as such, NOT a pass (no sweep, no compare)
#   --allow-cpu         on a host without a GPU, run once on the CPU instead of failing; reported
#                       as a CPU run, never as a GPU pass
#
# No GPU (without --allow-cpu), or a lockstep without a CUDA engine: exit 3. LOCKSTEP_BIN: a built
# lockstep (else ci/setup.sh + ci/build.sh build one). Appends the summary to $GITHUB_STEP_SUMMARY
# when set. Exit codes: 0 all reproduced (or the golden made), 1 a determinism failure, 2/3 as lockstep.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE="$ROOT/suites/nightly.json"
OUT="$ROOT/lockstep-out/nightly"
LABEL=""
GOLDEN=""
MAKE_GOLDEN=""
ALLOW_CPU=0
LENGTHS="1,7,32"
BATCHES="1,2,4,8,16"
COMPARE_RUNS=20
COMPARE_MAX_BATCH=32
while (($#)); do
  case "$1" in
    --suite) SUITE="$2"; shift 2 ;;
    --out-dir) OUT="$2"; shift 2 ;;
    --label) LABEL="$2"; shift 2 ;;
    --golden) GOLDEN="$2"; shift 2 ;;
    --make-golden) MAKE_GOLDEN="$2"; shift 2 ;;
    --allow-cpu) ALLOW_CPU=1; shift ;;
    --sweep-lengths) LENGTHS="$2"; shift 2 ;;
    --sweep-batches) BATCHES="$2"; shift 2 ;;
    --compare-runs) COMPARE_RUNS="$2"; shift 2 ;;
    --compare-max-batch) COMPARE_MAX_BATCH="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-nightly: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
say() { echo "[gpu-nightly] $*" >&2; }
[[ -f "$SUITE" ]] || { say "ERROR: no suite file $SUITE"; exit 2; }
if [[ -n "$GOLDEN" && -n "$MAKE_GOLDEN" ]]; then say "ERROR: give --golden or --make-golden, not both"; exit 2; fi
if [[ -z "$GOLDEN" && -z "$MAKE_GOLDEN" ]]; then
  say "ERROR: the nightly needs --golden FILE (the device class's proof every GPU must reproduce), or"
  say "       --make-golden FILE to make one (a proof to commit, not a pass)"
  exit 2
fi
[[ -z "$GOLDEN" || -f "$GOLDEN" ]] || { say "ERROR: no golden proof $GOLDEN"; exit 2; }
[[ -z "$MAKE_GOLDEN" || ! -e "$MAKE_GOLDEN" ]] || { say "ERROR: $MAKE_GOLDEN exists; remove it to make it again"; exit 2; }

if [[ -z "${LOCKSTEP_BIN:-}" ]]; then
  bash "$ROOT/ci/setup.sh" || exit $?
  bash "$ROOT/ci/build.sh" || exit $?
  LOCKSTEP_BIN="${LOCKSTEP_BUILD_DIR:-$ROOT/build}/harness/lockstep"
fi
mkdir -p "$OUT/proofs" || exit 3

GPUS=0
command -v nvidia-smi >/dev/null && GPUS="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')"
HAS_DEVICE=0
"$LOCKSTEP_BIN" verify --help 2>/dev/null | grep -q -- '--device' && HAS_DEVICE=1
if [[ -z "$LABEL" ]]; then
  if ((GPUS > 0)); then
    LABEL="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -cs 'A-Za-z0-9' '-' | sed 's/-$//')"
  else
    LABEL="cpu-$(uname -m)"
  fi
fi

DEVICE_ARGS=()
WORKERS=()
KIND="GPU"
if ((GPUS > 0 && HAS_DEVICE)); then
  say "$GPUS GPU(s) ($LABEL): one process per GPU"
  DEVICE_ARGS=(--device cuda --dtype bf16)
  for ((i = 0; i < GPUS; i++)); do WORKERS+=("gpu$i"); done
elif ((GPUS > 0)); then
  say "ERROR: this lockstep has no CUDA engine (verify has no --device): build it with CUDA"; exit 3
elif ((ALLOW_CPU)); then
  say "CPU RUN: no GPU on this host (nvidia-smi finds none) and --allow-cpu: the suite runs once on the CPU;"
  say "         this is not a GPU pass"
  KIND="CPU"
  WORKERS=(cpu)
else
  say "ERROR: no GPU on this host (nvidia-smi finds none): a GPU runner that lost its GPU must not pass"
  say "       (--allow-cpu runs on the CPU instead, reported as a CPU run)"
  exit 3
fi

GOLDEN_ARGS=()
[[ -n "$GOLDEN" ]] && GOLDEN_ARGS=(--golden "$GOLDEN")

if [[ -n "$MAKE_GOLDEN" ]]; then   # the first worker writes the golden; the others are checked against it
  first="${WORKERS[0]}"
  mkdir -p "$OUT/$first"
  (
    [[ "$first" == gpu* ]] && export CUDA_VISIBLE_DEVICES="${first#gpu}"
    "$LOCKSTEP_BIN" suite --suite "$SUITE" --out-dir "$OUT/$first" "${DEVICE_ARGS[@]}" \
      --proof-out "$OUT/proofs/$LABEL-$first.proof.json" --golden "$MAKE_GOLDEN" --update-golden --create-golden-dir >"$OUT/$first/lockstep.log" 2>&1
  )
  code=$?
  if ((code != 0)) || [[ ! -f "$MAKE_GOLDEN" ]]; then
    say "$first: making the golden failed (exit $code; see $OUT/$first/lockstep.log)"; exit $((code ? code : 1))
  fi
  WORKERS=("${WORKERS[@]:1}")
  GOLDEN="$MAKE_GOLDEN"
  GOLDEN_ARGS=(--golden "$GOLDEN")
fi

# One process per GPU, in parallel; each writes results.json and its proof (and checks the golden proof).
pids=()
for w in "${WORKERS[@]}"; do
  mkdir -p "$OUT/$w"
  (
    [[ "$w" == gpu* ]] && export CUDA_VISIBLE_DEVICES="${w#gpu}"
    "$LOCKSTEP_BIN" suite --suite "$SUITE" --out-dir "$OUT/$w" "${DEVICE_ARGS[@]}" \
      --proof-out "$OUT/proofs/$LABEL-$w.proof.json" "${GOLDEN_ARGS[@]}" >"$OUT/$w/lockstep.log" 2>&1
  ) &
  pids+=($!)
done
rc=0
for k in "${!pids[@]}"; do
  wait "${pids[$k]}"; code=$?
  say "${WORKERS[$k]}: lockstep suite exited $code ($(grep -m1 -E 'PASS|FAIL' "$OUT/${WORKERS[$k]}/lockstep.log" || echo 'see its log'))"
  ((code > rc)) && rc=$code
done

# The host's GPUs must agree with each other bit for bit.
proofs=("$OUT"/proofs/*.proof.json)
if ((${#proofs[@]} > 1)) && [[ -f "${proofs[0]}" ]]; then
  for p in "${proofs[@]:1}"; do
    "$LOCKSTEP_BIN" proof diff "${proofs[0]}" "$p" --level bits >>"$OUT/proof-diff.log" 2>&1 || { say "DIFFERS: $p vs ${proofs[0]}"; ((rc < 1)) && rc=1; }
  done
fi

if [[ -n "$MAKE_GOLDEN" ]]; then
  say "GOLDEN MADE ($KIND run, $LABEL): $MAKE_GOLDEN; commit it. This is a proof to commit, NOT a pass; exit $rc"
  [[ -n "${GITHUB_STEP_SUMMARY:-}" ]] && printf '## lockstep nightly (%s): golden made, not a pass\n\n`%s`: commit it.\n' \
    "$LABEL" "$MAKE_GOLDEN" >>"$GITHUB_STEP_SUMMARY"
  exit "$rc"
fi

"$LOCKSTEP_BIN" sweep --lengths "$LENGTHS" --batches "$BATCHES" "${DEVICE_ARGS[@]}" --out-dir "$OUT/sweep" >"$OUT/sweep.log" 2>&1
code=$?; ((code > rc)) && rc=$code
# compare: on CUDA in fp32, where stock cuBLAS/SDPA change a request's bits with the batch (on the
# H100: 20 unique outputs in 20 runs with the mode off, 1 with it on; measurements/h100-2026-11-24-compare);
# in bf16 the stock kernels happen to agree across these batches on an H100, so it would show nothing.
COMPARE_ARGS=("${DEVICE_ARGS[@]}")
((${#DEVICE_ARGS[@]})) && COMPARE_ARGS=(--device cuda --dtype fp32)
"$LOCKSTEP_BIN" compare --runs "$COMPARE_RUNS" --length 1 --decode-tokens 8 --max-batch "$COMPARE_MAX_BATCH" "${COMPARE_ARGS[@]}" --out-dir "$OUT/compare" >"$OUT/compare.log" 2>&1
code=$?; ((code > rc)) && rc=$code

inputs=()
for f in "$OUT"/*/results.json; do [[ -f "$f" ]] && inputs+=(--results "$f"); done
[[ -f "$OUT/compare/compare.json" ]] && inputs+=(--compare "$OUT/compare/compare.json")
if ((${#inputs[@]})); then
  "$LOCKSTEP_BIN" report "${inputs[@]}" --out-dir "$OUT" --title "lockstep nightly: $LABEL ($KIND run)" || { code=$?; ((code > rc)) && rc=$code; }
  [[ -n "${GITHUB_STEP_SUMMARY:-}" && -f "$OUT/summary.md" ]] && cat "$OUT/summary.md" >>"$GITHUB_STEP_SUMMARY"
fi
[[ $KIND == CPU ]] && say "CPU RUN (no GPU on this host, --allow-cpu): not a GPU pass"
say "reports in $OUT (report.html, report-junit.xml, summary.md; proofs in $OUT/proofs); exit $rc"
exit "$rc"

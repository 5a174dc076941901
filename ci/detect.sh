#!/usr/bin/env bash
# Detection power of the determinism gate (harness/DETECTION.md).
#
#   ci/detect.sh                 every injected fault against the gate: exit 1 if one goes undetected
#   ci/detect.sh build           only builds lockstep_fault (the test build pytest's fault tests run)
#   ci/detect.sh clean N [P]     N clean in-process runs (one `verify --runs N`) and P fresh processes
#                                (default 2) with the fault build and no fault, against the goldens:
#                                counts false alarms (LOCKSTEP_DETECT_CLEAN_SUITES="smollm tie" by
#                                default; one of them to run only that suite)
#
# Builds lockstep_fault (CMake option LOCKSTEP_FAULT_INJECTION, kernels/fault/) beside the normal
# targets of $LOCKSTEP_BUILD_DIR (default build/): only the hook sources are compiled again. Then,
# for each fault of kernels/fault/fault.h and each detection suite, it runs the gate
#   LOCKSTEP_INJECT_FAULT=<fault> lockstep_fault verify --suite <suite> --golden <golden>
# (expects exit 1 and a case that differs from the golden proof; solo runs only, --no-batch-plan),
# for the faults that depend on the batch (splitk-gemm, attention-split, reordered-reduction) the
# co-batched variant: the fault on in every run, NO golden and no run label,
#   LOCKSTEP_INJECT_FAULT=<fault> lockstep_fault verify --suite <suite> --runs 1 --processes 0
# (expects exit 1: the suite's batch plan co-batches each case, and a co-batched run differs from
# its solo reference), and for the run-dependent logit-ulp the run-to-run variant
#   LOCKSTEP_INJECT_FAULT=logit-ulp@run-2 lockstep_fault verify --suite <suite> --no-batch-plan
# (expects exit 1 and run-2 differing from run-1). Then the table fault x suite x variant; EVERY
# row must be detected (tie-break on SmolLM2 is not run: its cases meet no exact tie, which is
# why the gate has the tie canary, checked through ci/gate.sh below).
# Suites: suites/detect.json (two ci-gate cases, SmolLM2-135M, golden
# golden/smollm2-135m-instruct/detect-cpu-x86_64.proof.json) and suites/detect-tie.json (the
# synthetic tie model of ci/make_tie_model.py, golden golden/detect-tie/cpu-x86_64.proof.json).
# Also checked: the fault binary without a fault passes both goldens, a malformed
# LOCKSTEP_INJECT_FAULT exits 2, and the normal binary refuses the variable (exit 2).
# Exit: 0 all faults detected and no false alarm, 1 otherwise, 3 build or environment failure.
set -uo pipefail
CI_TAG=detect; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUT="${LOCKSTEP_DETECT_OUT:-$ROOT/lockstep-out/detect}"
PY="$VENV/bin/python"
[[ -x "$PY" ]] || PY=python3
MODE="${1:-faults}"
FAULTS=(logit-ulp splitk-gemm attention-split reordered-reduction tie-break tokenizer-merge)
SMOLLM_SUITE="$ROOT/suites/detect.json"
SMOLLM_GOLDEN="$ROOT/golden/smollm2-135m-instruct/detect-cpu-x86_64.proof.json"
TIE_SUITE="$ROOT/suites/detect-tie.json"
TIE_GOLDEN="$ROOT/golden/detect-tie/cpu-x86_64.proof.json"
TIE_MODEL=""   # set per mode: $OUT/<mode>/tie-model
BIN="$BUILD/harness/lockstep"
FAULT_BIN="$BUILD/harness/lockstep_fault"


build() {
  local start=$SECONDS
  if [[ ! -f "$BUILD/build.ninja" ]]; then
    "$ROOT/ci/setup.sh" || exit $?
    LOCKSTEP_BUILD_DIR="$BUILD" "$ROOT/ci/build.sh" -DLOCKSTEP_FAULT_INJECTION=ON || exit $?
  elif ! grep -q '^LOCKSTEP_FAULT_INJECTION:BOOL=ON' "$BUILD/CMakeCache.txt"; then
    echo "[detect] turning on LOCKSTEP_FAULT_INJECTION in $BUILD" >&2
    cmake -DLOCKSTEP_FAULT_INJECTION=ON "$BUILD" >"$BUILD.detect-configure.log" 2>&1 ||
      { cat "$BUILD.detect-configure.log" >&2; die "CMake configure failed"; }
  fi
  cmake --build "$BUILD" -j "${LOCKSTEP_JOBS:-$(nproc)}" --target lockstep lockstep_fault || die "building lockstep_fault failed"
  echo "[detect] lockstep_fault built in $((SECONDS - start))s" >&2
}

tie_model() {
  TIE_MODEL="$1/tie-model"
  "$PY" "$ROOT/ci/make_tie_model.py" --out "$TIE_MODEL" >&2 || die "ci/make_tie_model.py failed"
}

# run_gate FAULT SUITE_NAME VARIANT: one verify; appends a row to $OUT/rows.jsonl.
run_gate() {
  local fault=$1 name=$2 variant=$3
  local suite=$SMOLLM_SUITE golden=$SMOLLM_GOLDEN model=()
  if [[ $name == tie ]]; then suite=$TIE_SUITE golden=$TIE_GOLDEN model=(--model "$TIE_MODEL"); fi
  local dir="$OUT/faults/$fault/$name-$variant" value=$fault args=()
  mkdir -p "$dir"
  # SmolLM2 passes cost seconds each on 2 cores, the tie model's milliseconds: the golden variant
  # runs SmolLM2 once (the golden is the reference), run-2 twice (run-1 is the reference).
  case $name-$variant in
    smollm-golden) args=(--golden "$golden" --runs 1 --processes 0 --no-batch-plan) ;;
    smollm-run-2) args=(--runs 2 --processes 0 --no-batch-plan) ;;
    smollm-clean) args=(--golden "$golden" --runs 2 --processes 1) ;;
    *-co-batched) args=(--runs 1 --processes 0) ;;
    tie-golden) args=(--golden "$golden" --runs 2 --processes 1 --no-batch-plan) ;;
    tie-clean) args=(--golden "$golden" --runs 2 --processes 1) ;;
    tie-run-2) args=(--runs 2 --processes 1 --no-batch-plan) ;;
  esac
  [[ $variant == run-2 ]] && value="$fault@run-2"
  [[ $fault == none ]] && value=""
  # --localise 0: detection only (the localisation of each fault is asserted in pytest, DETECTION.md).
  args+=(--localise 0)
  local cmd=("$FAULT_BIN" verify --suite "$suite" "${model[@]}" "${args[@]}" --out-dir "$dir")
  local shown="LOCKSTEP_INJECT_FAULT=$value lockstep_fault verify --suite ${suite#"$ROOT"/}${model:+ --model TIE_MODEL} ${args[*]//"$ROOT"\//}"
  [[ -z $value ]] && shown="${shown#LOCKSTEP_INJECT_FAULT= }"
  local start=$SECONDS
  LOCKSTEP_INJECT_FAULT="$value" "${cmd[@]}" >"$dir/log" 2>&1
  local rc=$?
  echo "[detect] $fault on $name ($variant): exit $rc in $((SECONDS - start))s: $(grep -m1 -E 'golden: first differing|first failure' "$dir/log" || echo 'no divergence named')" >&2
  "$PY" "$ROOT/ci/detect_report.py" row --fault "$fault" --suite "$name" --variant "$variant" --exit "$rc" \
    --results "$dir/results.json" --golden "$golden" --command "$shown" >>"$OUT/faults/rows.jsonl"
}

# expect_rejected RC_WANTED TEXT_WANTED BINARY VALUE: a malformed or refused variable.
expect_rejected() {
  local want=$1 text=$2 bin=$3 value=$4 log
  log=$(LOCKSTEP_INJECT_FAULT="$value" "$bin" verify --suite "$TIE_SUITE" --model "$TIE_MODEL" --out-dir "$OUT/faults/rejected" 2>&1)
  local rc=$?
  if [[ $rc != "$want" || $log != *"$text"* ]]; then
    echo "[detect] FAIL: LOCKSTEP_INJECT_FAULT='$value' $(basename "$bin"): exit $rc (want $want), output: $log" >&2
    return 1
  fi
  echo "[detect] LOCKSTEP_INJECT_FAULT='$value' $(basename "$bin"): rejected, exit $rc" >&2
}

# The real gate, ci/gate.sh (the ci-gate suite, then the tie canary), with the tie-break fault: the
# one fault the ci-gate cases cannot show (no exact tie in them), so its canary must fail it.
gate_tie_break() {
  local dir="$OUT/faults/tie-break/gate" start=$SECONDS rc
  mkdir -p "$dir"
  LOCKSTEP_INJECT_FAULT=tie-break LOCKSTEP_GATE_BIN="$FAULT_BIN" LOCKSTEP_OUT="$dir" LOCKSTEP_BUILD_DIR="$BUILD" \
    LOCKSTEP_VENV="$VENV" "$ROOT/ci/gate.sh" >"$dir/log" 2>&1
  rc=$?
  echo "[detect] tie-break on ci/gate.sh: exit $rc in $((SECONDS - start))s: $(grep -m1 -E 'golden: first differing' "$dir/log" || echo 'no divergence named')" >&2
  "$PY" "$ROOT/ci/detect_report.py" row --fault tie-break --suite "ci/gate.sh canary" --variant golden --exit "$rc" \
    --results "$dir/tie/results.json" --golden "$TIE_GOLDEN" \
    --command "LOCKSTEP_INJECT_FAULT=tie-break LOCKSTEP_GATE_BIN=lockstep_fault ci/gate.sh" >>"$OUT/faults/rows.jsonl"
  # Detected: exit 1, and the canary's proof is the one that differs.
  if [[ $rc == 1 ]] && grep -q "[1-9][0-9]* of [0-9]* cases differ from .*detect-tie/cpu-x86_64.proof.json" "$dir/log"; then
    return 0
  fi
  echo "[detect] FAIL: ci/gate.sh did not catch the tie-break fault with its canary (log: $dir/log)" >&2
  return 1
}

faults() {
  rm -rf "$OUT/faults" && mkdir -p "$OUT/faults" || die "cannot create $OUT/faults"
  build
  tie_model "$OUT/faults"
  local bad=0
  expect_rejected 2 "is not a known fault" "$FAULT_BIN" "bogus" || bad=1
  expect_rejected 2 "takes no number" "$FAULT_BIN" "splitk-gemm:3" || bad=1
  expect_rejected 2 "empty run label" "$FAULT_BIN" "tie-break@" || bad=1
  expect_rejected 2 "has no fault injector" "$BIN" "splitk-gemm" || bad=1
  run_gate none smollm clean
  run_gate none tie clean
  for fault in "${FAULTS[@]}"; do
    for name in smollm tie; do
      [[ $fault == tie-break && $name == smollm ]] && continue   # no exact tie there: the canary's job
      run_gate "$fault" "$name" golden
      case $fault in
        splitk-gemm|attention-split|reordered-reduction) run_gate "$fault" "$name" co-batched ;;
        logit-ulp) run_gate "$fault" "$name" run-2 ;;
      esac
    done
  done
  gate_tie_break || bad=1
  "$PY" "$ROOT/ci/detect_report.py" table "$OUT/faults/rows.jsonl" | tee "$OUT/faults/table.md"
  local rc=${PIPESTATUS[0]}
  ((rc != 0 || bad != 0)) && { echo "[detect] FAILED" >&2; return 1; }
  echo "[detect] all faults detected, no false alarm (table: $OUT/faults/table.md)" >&2
}

# clean N P: false alarms of the fault build with no fault, against the goldens.
clean() {
  local n=${1:?usage: ci/detect.sh clean N [PROCESSES]} p=${2:-2}
  [[ $n =~ ^[1-9][0-9]*$ && $p =~ ^[0-9]+$ ]] || { echo "usage: ci/detect.sh clean N [PROCESSES]" >&2; exit 2; }
  mkdir -p "$OUT/clean" || die "cannot create $OUT/clean"
  build
  tie_model "$OUT/clean"
  local bad=0 name suite golden model dir rc start
  for name in ${LOCKSTEP_DETECT_CLEAN_SUITES:-smollm tie}; do
    [[ $name == smollm || $name == tie ]] || { echo "LOCKSTEP_DETECT_CLEAN_SUITES: smollm and/or tie" >&2; exit 2; }
    suite=$SMOLLM_SUITE golden=$SMOLLM_GOLDEN model=()
    if [[ $name == tie ]]; then suite=$TIE_SUITE golden=$TIE_GOLDEN model=(--model "$TIE_MODEL"); fi
    dir="$OUT/clean/$name-$n-$(date -u +%Y%m%dT%H%M%S)"
    mkdir -p "$dir"
    start=$SECONDS
    env -u LOCKSTEP_INJECT_FAULT "$FAULT_BIN" verify --suite "$suite" "${model[@]}" --golden "$golden" \
      --runs "$n" --processes "$p" --out-dir "$dir" >"$dir/log" 2>&1
    rc=$?
    echo "[detect] clean $name: $n runs + $p processes: exit $rc in $((SECONDS - start))s; $(grep -m1 'verify: PASS\|verify: FAIL' "$dir/log")" >&2
    "$PY" - "$dir/results.json" "$name" "$n" "$p" "$rc" "$((SECONDS - start))" <<'PY' | tee -a "$OUT/clean/summary.txt"
import json, sys
path, name, n, p, rc, secs = sys.argv[1:]
r = json.load(open(path))
c = r["counts"]
g = r.get("golden") or {}
golden_bad = sum(not v["match"] for v in g.get("cases", []))
print(f"clean {name}: {n} in-process runs + {p} processes, {c['cases']} cases: {c['comparisons']} run comparisons, "
      f"{c['comparisons_failed']} false alarms; golden: {len(g.get('cases', [])) - golden_bad} of "
      f"{len(g.get('cases', []))} cases equal; exit {rc}; {secs}s")
PY
    [[ $rc == 0 ]] || bad=1
  done
  return $bad
}

case $MODE in
  faults) faults ;;
  clean) shift; clean "$@" ;;
  build) build ;;
  *) echo "usage: ci/detect.sh [clean N [PROCESSES] | build]" >&2; exit 2 ;;
esac

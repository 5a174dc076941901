#!/usr/bin/env bash
# Step 2 of action.yml: run a suite against its golden proof, render the reports, write the job
# summary and the outputs, and exit like the gate: 0 pass, 1 a determinism failure (0 with
# fail-on-divergence false), 2 bad input, 3 environment problem. Inputs arrive as INPUT_* variables
# (action.yml maps them), the binary as LOCKSTEP_BIN, the Python with Jinja2 as LOCKSTEP_PYTHON.
# A test runs this with a simulated runner (tests/reports/test_action.py).
set -uo pipefail
CI_TAG=action-run; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${GITHUB_OUTPUT:?}" "${GITHUB_STEP_SUMMARY:?}" "${LOCKSTEP_BIN:?}"
PYTHON="${LOCKSTEP_PYTHON:-python3}"
WORKSPACE="${GITHUB_WORKSPACE:-$PWD}"
OUT="${INPUT_OUT_DIR:-${RUNNER_TEMP:-/tmp}/lockstep}"
SUITE_IN="${INPUT_SUITE:-suites/ci-gate.json}"
GOLDEN_IN="${INPUT_GOLDEN:-}"
MODE="${INPUT_MODE:-batch_invariant}"
DEVICE="${INPUT_DEVICE:-cpu}"
DTYPE="${INPUT_DTYPE:-auto}"
UPDATE="${INPUT_UPDATE_GOLDEN:-false}"
FAIL_ON_DIVERGENCE="${INPUT_FAIL_ON_DIVERGENCE:-true}"
TIE_CANARY="${INPUT_TIE_CANARY:-true}"
ENDPOINT="${INPUT_ENDPOINT:-}"

output() { echo "$1=$2" >>"$GITHUB_OUTPUT"; }
fail() {   # code, message: an annotation, the summary, the outputs, then exit
  echo "::error title=lockstep::$2"
  printf '## ⚠️ lockstep: ERROR\n\n%s\n' "$2" >>"$GITHUB_STEP_SUMMARY"
  output verdict error
  output exit-code "$1"
  exit "$1"
}
is_true() { [[ "${1,,}" == true || "$1" == 1 || "${1,,}" == yes ]]; }
is_bool() { [[ "${1,,}" =~ ^(true|false|yes|no|1|0)$ ]]; }

# A relative path is the caller's (GITHUB_WORKSPACE) if it exists there, else the action's own
# (its suites/ and golden/ are the defaults).
resolve() {
  if [[ "$1" == /* ]]; then echo "$1"
  elif [[ -e "$WORKSPACE/$1" ]]; then echo "$WORKSPACE/$1"
  elif [[ -e "$ROOT/$1" ]]; then echo "$ROOT/$1"
  else echo "$WORKSPACE/$1"
  fi
}

is_bool "$UPDATE" || fail 2 "input update-golden must be true or false, not '$UPDATE'"
is_bool "$FAIL_ON_DIVERGENCE" || fail 2 "input fail-on-divergence must be true or false, not '$FAIL_ON_DIVERGENCE'"
is_bool "$TIE_CANARY" || fail 2 "input tie-canary must be true or false, not '$TIE_CANARY'"
[[ "$MODE" =~ ^(off|batch_invariant|portable)$ ]] || fail 2 "input mode must be off, batch_invariant or portable, not '$MODE'"
SUITE="$(resolve "$SUITE_IN")"
[[ -f "$SUITE" ]] || fail 2 "input suite: no suite file at $SUITE_IN (looked in $WORKSPACE and $ROOT)"

# Device class of the golden file name: cpu-<arch>, or sm<compute capability> for a GPU.
case "$DEVICE" in
  cpu) CLASS="cpu-$(uname -m)" ;;
  cuda)
    CAP="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
    [[ -n "$CAP" ]] || fail 3 "input device is cuda but nvidia-smi reports no GPU on this runner"
    CLASS="sm$CAP" ;;
  *) fail 2 "input device must be cpu or cuda, not '$DEVICE'" ;;
esac
if [[ "$DTYPE" == auto ]]; then
  DTYPE=fp32
  [[ "$DEVICE" == cuda ]] && DTYPE=bf16
fi
[[ "$DTYPE" =~ ^(fp32|bf16|fp16)$ ]] || fail 2 "input dtype must be auto, fp32, bf16 or fp16, not '$DTYPE'"
DEVICE_ARGS=()
if "$LOCKSTEP_BIN" verify --help 2>/dev/null | grep -q -- '--device'; then
  DEVICE_ARGS=(--device "$DEVICE" --dtype "$DTYPE")
elif [[ "$DEVICE" != cpu ]]; then
  fail 3 "this lockstep build has no --device option (no CUDA engine yet): run with device: cpu"
fi

GOLDEN_ARGS=()
GOLDEN=""
if [[ -n "$GOLDEN_IN" ]]; then
  GOLDEN="$(resolve "$GOLDEN_IN")"
  # A directory (existing, or to be made by update-golden: any path not ending in .json) holds one
  # proof per device class.
  if [[ -d "$GOLDEN" || "$GOLDEN" != *.json ]]; then GOLDEN="$GOLDEN/$CLASS.proof.json"; fi
  if [[ ! -f "$GOLDEN" ]] && ! is_true "$UPDATE"; then
    fail 2 "no golden proof at $GOLDEN (device class $CLASS); create it with update-golden: true and commit it"
  fi
  GOLDEN_ARGS=(--golden "$GOLDEN")
  # update-golden with a golden directory makes it (and the class's file in it) if missing.
  is_true "$UPDATE" && GOLDEN_ARGS+=(--update-golden --create-golden-dir)
elif is_true "$UPDATE"; then
  fail 2 "update-golden needs the golden input (a directory or a proof file)"
fi
MODEL_ARGS=()
[[ -n "${INPUT_MODEL:-}" ]] && MODEL_ARGS=(--model "$(resolve "$INPUT_MODEL")")
if [[ -n "$ENDPOINT" ]]; then
  [[ "$ENDPOINT" =~ ^https?:// ]] || fail 2 "input endpoint must be a URL starting with http:// or https://, not '$ENDPOINT'"
  [[ -z "${INPUT_MODEL:-}" ]] || fail 2 "inputs endpoint and model exclude each other: the model is the server's"
fi

mkdir -p "$OUT" || fail 3 "cannot create the output directory $OUT"
RESULTS="$OUT/results.json"
rm -f "$RESULTS"
if [[ -n "$ENDPOINT" ]]; then
  echo "::group::lockstep suite $SUITE_IN against the server at $ENDPOINT${GOLDEN:+, golden $GOLDEN}"
  "$LOCKSTEP_BIN" verify --suite "$SUITE" --endpoint "$ENDPOINT" --out-dir "$OUT" "${GOLDEN_ARGS[@]}" 2>&1 \
    | tee "$OUT/lockstep.log"
  RC=${PIPESTATUS[0]}
else
  echo "::group::lockstep suite $SUITE_IN (mode $MODE, device $DEVICE, $DTYPE${GOLDEN:+, golden $GOLDEN})"
  "$LOCKSTEP_BIN" suite --suite "$SUITE" --mode "$MODE" --out-dir "$OUT" "${MODEL_ARGS[@]}" "${DEVICE_ARGS[@]}" \
    "${GOLDEN_ARGS[@]}" 2>&1 | tee "$OUT/lockstep.log"
  RC=${PIPESTATUS[0]}
fi
echo "::endgroup::"
if [[ ! -f "$RESULTS" ]] || ((RC > 1)); then
  fail "$((RC > 1 ? RC : 3))" "lockstep suite exited with code $RC: $(tail -3 "$OUT/lockstep.log" | tr '\n' ' ')"
fi

# The same tie canary as ci/gate.sh: one gate, whichever way it is run.
CANARY="skipped (tie-canary: false)"
if is_true "$TIE_CANARY"; then
  echo "::group::lockstep tie canary (greedy tie-break)"
  "$ROOT/ci/tie-canary.sh" "$LOCKSTEP_BIN" "$OUT" "$PYTHON" 2>&1 | tee "$OUT/tie-canary.log"
  TIE_RC=${PIPESTATUS[0]}
  echo "::endgroup::"
  ((TIE_RC > 1)) && fail "$TIE_RC" "the tie canary exited with code $TIE_RC: $(tail -3 "$OUT/tie-canary.log" | tr '\n' ' ')"
  CANARY="pass"
  if ((TIE_RC == 1)); then
    CANARY="FAIL (a changed greedy tie-break; $OUT/tie/results.json)"
    echo "::error title=lockstep tie canary::$(grep -m1 'golden: first differing' "$OUT/tie-canary.log" || echo 'the tie model differs from its golden')"
    ((RC == 0)) && RC=1
  fi
fi

"$LOCKSTEP_BIN" report --results "$RESULTS" --out-dir "$OUT" --title "lockstep: $(basename "$SUITE" .json)" \
  || fail "$?" "lockstep report failed (see the log above)"
cat "$OUT/summary.md" >>"$GITHUB_STEP_SUMMARY"
printf '\nTie canary (greedy tie-break): %s\n' "$CANARY" >>"$GITHUB_STEP_SUMMARY"
# shellcheck disable=SC2016  # the backticks are Markdown
printf '\nReports: `%s` (HTML), `%s` (JUnit), `%s` (results)\n' "$OUT/report.html" "$OUT/report-junit.xml" "$RESULTS" \
  >>"$GITHUB_STEP_SUMMARY"

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m reports.outputs "$RESULTS" \
  "results-json=$RESULTS" "junit-xml=$OUT/report-junit.xml" "html-report=$OUT/report.html" \
  "summary-markdown=$OUT/summary.md" "report-dir=$OUT" "golden-file=$GOLDEN" "exit-code=$RC" >>"$GITHUB_OUTPUT" \
  || fail 3 "could not compute the outputs from $RESULTS"

if ((RC == 1)); then
  grep -m 5 -E "first failure|FAIL" "$OUT/lockstep.log" | sed 's/^/::error title=lockstep determinism failure::/'
  if is_true "$FAIL_ON_DIVERGENCE"; then
    exit 1
  fi
  echo "::warning title=lockstep::determinism failure reported but not failing the job (fail-on-divergence: false)"
fi
exit 0

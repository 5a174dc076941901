#!/usr/bin/env bash
# The main job: set up, build, and run the determinism gate (the ci-gate
# suite on the embedded SmolLM2-135M model, CPU, mode batch_invariant): every
# run, reload and fresh process must reproduce the committed golden proof
# golden/smollm2-135m-instruct/cpu-x86_64.proof.json bit for bit.
# Then the tie canary: the synthetic model of ci/make_tie_model.py, whose top
# two logits are bit-for-bit equal at every step, against its golden
# golden/detect-tie/cpu-x86_64.proof.json: the one check that sees a changed
# greedy tie-break (the ci-gate cases never meet an exact tie; see
# harness/DETECTION.md). It costs well under a second.
# Exit code as `lockstep verify`: 0 all bitwise equal, 1 a run or a golden
# file differed, 2 bad input, 3 environment. Extra arguments go to the main
# verify (e.g. --update-golden after an intended change, then commit the file).
# LOCKSTEP_GATE_BIN runs another binary (ci/detect.sh: the fault build).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/ci/setup.sh"
"$ROOT/ci/build.sh"
BUILD="${LOCKSTEP_BUILD_DIR:-$ROOT/build}"
VENV="${LOCKSTEP_VENV:-$ROOT/.venv}"
BIN="${LOCKSTEP_GATE_BIN:-$BUILD/harness/lockstep}"
OUT="${LOCKSTEP_OUT:-$ROOT/lockstep-out/gate}"
rc=0
"$BIN" verify --suite "$ROOT/suites/ci-gate.json" \
  --golden "$ROOT/golden/smollm2-135m-instruct/cpu-x86_64.proof.json" --out-dir "$OUT" "$@" || rc=$?

echo "gate: tie canary (greedy tie-break)" >&2
"$VENV/bin/python" "$ROOT/ci/make_tie_model.py" --out "$OUT/tie-model" >&2 || { echo "gate: ERROR: ci/make_tie_model.py failed" >&2; exit 3; }
tie_rc=0
"$BIN" verify --suite "$ROOT/suites/detect-tie.json" --model "$OUT/tie-model" \
  --golden "$ROOT/golden/detect-tie/cpu-x86_64.proof.json" --runs 2 --processes 1 --out-dir "$OUT/tie" || tie_rc=$?
# The main gate's verdict first; a canary failure only when the gate passed.
if ((rc == 0)); then rc=$tie_rc; fi
exit "$rc"

#!/usr/bin/env bash
# The main job: set up, build, and run the determinism gate (the ci-gate
# suite on the embedded SmolLM2-135M model, CPU, mode batch_invariant): every
# run, reload and fresh process must reproduce the committed golden proof
# golden/smollm2-135m-instruct/cpu-x86_64.proof.json bit for bit.
# The suite's batch plan co-batches every case through the engine (batches of
# 3 and 8 with seeded greedy and sampling fillers, joins mid-decode each way).
# Then the tie canary (ci/tie-canary.sh, which the GitHub Action runs too):
# the one check that sees a changed greedy tie-break.
# Exit code as `lockstep verify`: 0 all bitwise equal, 1 a run or a golden
# file differed, 2 bad input, 3 environment. Extra arguments go to the main
# verify (e.g. --update-golden after an intended change, then commit the file).
# LOCKSTEP_GATE_BIN runs another binary (ci/detect.sh: the fault build).
set -euo pipefail
CI_TAG=gate; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$ROOT/ci/setup.sh"
"$ROOT/ci/build.sh"
BIN="${LOCKSTEP_GATE_BIN:-$BUILD/harness/lockstep}"
OUT="${LOCKSTEP_OUT:-$ROOT/lockstep-out/gate}"
rc=0
"$BIN" verify --suite "$ROOT/suites/ci-gate.json" \
  --golden "$ROOT/golden/smollm2-135m-instruct/cpu-x86_64.proof.json" --out-dir "$OUT" "$@" || rc=$?

tie_rc=0
"$ROOT/ci/tie-canary.sh" "$BIN" "$OUT" "$VENV/bin/python" || tie_rc=$?
# The main gate's verdict first; a canary failure only when the gate passed.
if ((rc == 0)); then rc=$tie_rc; fi
exit "$rc"

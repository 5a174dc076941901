#!/usr/bin/env bash
# The tie canary, shared by ci/gate.sh and the GitHub Action (ci/action-run.sh) so both run the
# same gate: the synthetic model of ci/make_tie_model.py, whose top two logits are bit-for-bit
# equal at every step, against golden/detect-tie/<device class>.proof.json. The one check that sees
# a changed greedy tie-break (suites with real prompts never meet an exact tie; harness/DETECTION.md).
# Well under a second of model time, on the CPU.
#
#   ci/tie-canary.sh LOCKSTEP_BIN OUT_DIR [PYTHON]
#
# Exit codes as `lockstep verify`: 0 reproduced, 1 differs, 2 bad input, 3 environment (no golden
# for this CPU's class, the model cannot be written).
set -uo pipefail
CI_TAG=tie-canary; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BIN="${1:?usage: ci/tie-canary.sh LOCKSTEP_BIN OUT_DIR [PYTHON]}"
OUT="${2:?usage: ci/tie-canary.sh LOCKSTEP_BIN OUT_DIR [PYTHON]}"
PY="${3:-python3}"
GOLDEN="$ROOT/golden/detect-tie/cpu-$(uname -m).proof.json"
[[ -f "$GOLDEN" ]] || { echo "tie canary: ERROR: no tie golden for this CPU ($GOLDEN)" >&2; exit 3; }
echo "tie canary: greedy tie-break against ${GOLDEN#"$ROOT"/}" >&2
"$PY" "$ROOT/ci/make_tie_model.py" --out "$OUT/tie-model" >&2 || { echo "tie canary: ERROR: ci/make_tie_model.py failed" >&2; exit 3; }
"$BIN" verify --suite "$ROOT/suites/detect-tie.json" --model "$OUT/tie-model" --golden "$GOLDEN" --runs 2 --processes 1 \
  --out-dir "$OUT/tie"

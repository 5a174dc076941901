#!/usr/bin/env bash
# The main job: set up, build, and run the determinism gate (the ci-gate
# suite on the embedded SmolLM2-135M model, CPU, mode batch_invariant): every
# run, reload and fresh process must reproduce the committed golden proof
# golden/smollm2-135m-instruct/cpu-x86_64.proof.json bit for bit.
# Exit code as `lockstep verify`: 0 all bitwise equal, 1 a run or the golden
# file differed, 2 bad input, 3 environment. Extra arguments go to verify
# (e.g. --update-golden after an intended change, then commit the file).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/ci/setup.sh"
"$ROOT/ci/build.sh"
BUILD="${LOCKSTEP_BUILD_DIR:-$ROOT/build}"
exec "$BUILD/harness/lockstep" verify --suite "$ROOT/suites/ci-gate.json" \
  --golden "$ROOT/golden/smollm2-135m-instruct/cpu-x86_64.proof.json" \
  --out-dir "${LOCKSTEP_OUT:-$ROOT/lockstep-out/gate}" "$@"

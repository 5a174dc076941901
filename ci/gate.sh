#!/usr/bin/env bash
# The main job: set up, build, and run the determinism gate (the ci-gate
# suite on the embedded SmolLM2-135M model, CPU). Exit code as `lockstep verify`:
# 0 all runs bitwise equal, 1 a run differed, 2 bad input, 3 environment.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/ci/setup.sh"
"$ROOT/ci/build.sh"
BUILD="${LOCKSTEP_BUILD_DIR:-$ROOT/build}"
exec "$BUILD/harness/lockstep" verify --suite "$ROOT/suites/ci-gate.json" \
  --out-dir "${LOCKSTEP_OUT:-$ROOT/lockstep-out/gate}" "$@"

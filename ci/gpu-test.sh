#!/usr/bin/env bash
# Build lockstep with CUDA and run the whole test suite on a GPU machine in
# one call: GoogleTest through ctest, then (where the model and the Python
# reference packages are present) pytest, then the ci-gate verify. Meant for
# the lent H100/H200 (torch 2.11.0+cu130 in its python3, no network): fill
# the carried folders first with ci/device-prepare.sh (see ci/GPU.md). Logs
# go to $OUT (or ./gpu-out). Without the model, model tests skip.
#   LOCKSTEP_GPU_STAGE=all|ctest|py   ctest: build + ctest; py: build (a no-op
#   on a warm machine) + pytest + the ci-gate verify. Two calls (ctest, then
#   py) fit the 10-minute limit of one device command; all does both.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"

# The model arrives in two calls (ci/device-prepare.sh): part a staged in
# /tmp by the first, part b carried by this one.
STAGE=/tmp/lockstep-model
if [[ -f .model-b/SHA256 && -f "$STAGE/lockstep-model-part-aa" ]]; then
  cat "$STAGE/lockstep-model-part-aa" .model-b/lockstep-model-part-ab > "$STAGE/model.gguf"
  if [[ "$(sha256sum "$STAGE/model.gguf" | cut -d' ' -f1)" == "$(cat .model-b/SHA256)" ]]; then
    export LOCKSTEP_MODEL="$STAGE/model.gguf"
  else
    echo "model parts do not match .model-b/SHA256; running without the model" >&2
  fi
fi
MODEL_ARGS=()
[[ -n "${LOCKSTEP_MODEL:-}" ]] && MODEL_ARGS=(-DLOCKSTEP_DEFAULT_MODEL="$LOCKSTEP_MODEL")
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/lockstep-site .whl/*.whl
  export PYTHONPATH="/tmp/lockstep-site${PYTHONPATH:+:$PYTHONPATH}"
fi

{
  echo "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
  echo "model: ${LOCKSTEP_MODEL:-none (model tests skip)}"
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nvcc --version | tail -2
} 2>&1 | tee "$OUT/device.txt"

gpu_build "${MODEL_ARGS[@]}"
echo "build ok"
STAGE="${LOCKSTEP_GPU_STAGE:-all}"
export LOCKSTEP_KERNELS_LIB="$BUILD/kernels/liblockstep_kernels.so"
set +e
rc=0
if [[ "$STAGE" == all || "$STAGE" == ctest ]]; then
(cd "$BUILD" && ctest --output-on-failure -j 4 --timeout 900 --output-junit "$OUT/ctest-junit.xml") >"$OUT/ctest.log" 2>&1
rc=$?
grep -E "tests passed|\*\*\*Failed|Not Run|Timeout" "$OUT/ctest.log" | tail -20
"$BUILD/tests/kernels_test" --gtest_filter='ArgmaxCuda*:FusedCuda*' 2>&1 | tail -12
fi
[[ "$STAGE" == ctest ]] && exit "$rc"
if [[ -n "${LOCKSTEP_MODEL:-}" ]] && python3 -c "import transformers, gguf, junitparser" 2>/dev/null; then
  LOCKSTEP_BIN="$BUILD/harness/lockstep" python3 -m pytest "$ROOT/tests" -q -p no:cacheprovider 2>&1 | tee "$OUT/pytest.log"
  prc=${PIPESTATUS[0]}
  ((rc == 0)) && rc=$prc
fi
# The CPU golden proof made on the CI machine must reproduce on this host's
# CPU too (another vendor and thread count): the model still runs on the CPU.
"$BUILD/harness/lockstep" verify --suite "$ROOT/suites/ci-gate.json" --out-dir "$OUT/gate" \
  --golden "$ROOT/golden/smollm2-135m-instruct/cpu-x86_64.proof.json" 2>&1 | tail -6 || rc=1
exit "$rc"

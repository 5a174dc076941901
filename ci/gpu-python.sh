#!/usr/bin/env bash
# The Python package (python/, issue 21) on the lent GPU, in ONE call:
#   run(command="LOCKSTEP_COMMIT=<hash> bash ci/gpu-python.sh", carry=[".whl", ".tok", ".ref"])
# Carried, git-ignored: .whl (scikit-build-core and pathspec wheels: pip download --no-deps -d .whl
# scikit-build-core==1.1.2 pathspec==1.1.1), .tok (SmolLM2's tokenizer files, ci/GPU.md), .ref/
# batch_invariant_ops (a checkout of thinking-machines-lab/batch_invariant_ops, the reference a
# PyTorch user would pick instead: fetched for the run, never committed).
#   1. the wheel with CUDA kernels: pip wheel --no-build-isolation ./python, installed;
#   2. pytest tests/python_package: every device test on CUDA too (sampling, drop-in ops,
#      transformers Llama/Qwen3/GPT-2 generate() in bf16), the wheel in a fresh venv;
#   3. the table: ci/pytorch_table.py on the random 1.07B Llama (ci/make_random_llama.py), stock vs
#      batch_invariant_ops vs lockstep, each in its own process.
# $OUT/python.txt is the summary; the table also as $OUT/table.md. LOCKSTEP_PY_TABLE=0: tests only.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-out}"
mkdir -p "$OUT"
cd "$ROOT"
SUMMARY="$OUT/python.txt"
BIG=/tmp/lockstep-1b
WHEELS=/tmp/lockstep-wheel
rc=0
say() { echo "$@" | tee -a "$SUMMARY"; }
DEADLINE=$((SECONDS + ${LOCKSTEP_PY_BUDGET_S:-560}))
limit() { local left=$((DEADLINE - SECONDS)); ((left < $1)) && echo $((left > 5 ? left : 5)) || echo "$1"; }

say "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$SUMMARY"
python3 -c 'import torch, transformers, triton; print("torch", torch.__version__, "transformers", transformers.__version__, "triton", triton.__version__)' | tee -a "$SUMMARY"
python3 -m pip install -q --no-index --find-links .whl scikit-build-core pathspec >"$OUT/pip.log" 2>&1 ||
  { cat "$OUT/pip.log"; exit 3; }
python3 ci/make_random_llama.py --out "$BIG" --tokenizer-from .tok >"$OUT/big-model.txt" 2>&1 &
MODEL_PID=$!

t0=$SECONDS
rm -rf "$WHEELS"
LOCKSTEP_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python3 -m pip wheel -q --no-build-isolation --no-deps \
  -C build-dir=/tmp/lockstep-wheel-build -w "$WHEELS" ./python >"$OUT/wheel.log" 2>&1 ||
  { tail -40 "$OUT/wheel.log"; exit 3; }
WHEEL="$(ls "$WHEELS"/*.whl)"
python3 -m pip install -q --no-deps --force-reinstall "$WHEEL" >>"$OUT/pip.log" 2>&1 || { tail "$OUT/pip.log"; exit 3; }
LIB="$(python3 -c 'import lockstep_kernels._library as l; print(l.BUNDLED_LIBRARY)')"
say "wheel $(basename "$WHEEL") with CUDA kernels built and installed ($((SECONDS - t0)) s); library $LIB"

t0=$SECONDS
LOCKSTEP_WHEEL="$WHEEL" LOCKSTEP_KERNELS_LIB="$LIB" timeout "$(limit 240)" python3 -m pytest tests/python_package \
  -q -p no:cacheprovider -rfE >"$OUT/pytest.log" 2>&1 || rc=1
say "pytest tests/python_package on CUDA + CPU ($((SECONDS - t0)) s): $(tail -1 "$OUT/pytest.log")"
grep -E "^(FAILED|ERROR)" "$OUT/pytest.log" | head -20 | tee -a "$SUMMARY"

if [[ "${LOCKSTEP_PY_TABLE:-1}" == 0 ]]; then   # tests only
  kill "$MODEL_PID" 2>/dev/null
  say "== done rc=$rc ($SECONDS s; table skipped: LOCKSTEP_PY_TABLE=0)"
  exit "$rc"
fi
wait "$MODEL_PID" || { cat "$OUT/big-model.txt"; exit 3; }
cat "$OUT/big-model.txt" | tee -a "$SUMMARY"
for v in stock batch_invariant_ops lockstep; do
  timeout "$(limit 120)" python3 ci/pytorch_table.py --model "$BIG" --variant "$v" --json "$OUT/table-$v.json" \
    >"$OUT/table-$v.log" 2>&1 || { rc=1; tail -5 "$OUT/table-$v.log" | tee -a "$SUMMARY"; }
done
python3 - "$OUT" <<'PY' | tee "$OUT/table.md" | tee -a "$SUMMARY"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print("| kernels | logits row 0, batch 8 / 32 vs 1 (max abs diff) | generate 64 tokens, batch 1 / 32 (tokens/s) | prefill 32 x 128 (ms) |")
print("|---|---|---|---:|")
for v in ("stock", "batch_invariant_ops", "lockstep"):
    f = out / f"table-{v}.json"
    if not f.exists():
        print(f"| {v} | (failed) | | |")
        continue
    r = json.loads(f.read_text())
    print(f"| {v} | {r['drift_b8']:.3g} / {r['drift_b32']:.3g} | {r['generate_b1_tok_s']:,.0f} / "
          f"{r['generate_b32_tok_s']:,.0f} | {r['prefill_32x128_ms']:.1f} |")
PY
say "== done rc=$rc ($SECONDS s)"
(cd "$OUT" && tar czf /tmp/lockstep-py-logs.tgz --exclude=./python.txt --exclude=./table.md . &&
  find . -mindepth 1 -maxdepth 1 ! -name python.txt ! -name table.md -exec rm -rf {} + && mv /tmp/lockstep-py-logs.tgz logs.tgz)
exit "$rc"

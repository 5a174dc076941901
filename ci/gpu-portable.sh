#!/usr/bin/env bash
# Portable mode on the lent GPU (issue 7): the per-op CPU-vs-CUDA bit tests, the CPU-made golden
# proof of the ci-gate suite verified at level bits on CUDA, a CUDA-made proof (to verify on the CPU
# afterwards: `lockstep proof diff golden/smollm2-135m-instruct/portable.proof.json
# portable-<gpu>.proof.json --level bits`, and `lockstep verify --golden portable-<gpu>.proof.json`),
# and the fp32 GEMM benchmark, portable vs cuBLAS with TF32 off. Three calls (64 MiB carry limit;
# ci/device-prepare.sh fills the folders, see ci/GPU.md):
#   LOCKSTEP_GPU_STAGE=build  carry .deps .snap   build lockstep, kernels_test, lockstep_bench_cuda
#   LOCKSTEP_GPU_STAGE=stage  carry .model-a      stage part a of the GGUF
#   LOCKSTEP_GPU_STAGE=run    carry .model-b      everything else; outputs in $OUT (few files)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
STAGE_DIR=/tmp/lockstep-model
MODEL="$STAGE_DIR/model.gguf"
LSK="$BUILD/harness/lockstep"
GOLDEN=golden/smollm2-135m-instruct/portable.proof.json

case "${LOCKSTEP_GPU_STAGE:?set LOCKSTEP_GPU_STAGE to build, stage or run}" in
build)
  {
    echo "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"
    nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv
  } 2>&1 | tee "$OUT/device.txt"
  gpu_build -DLOCKSTEP_DEFAULT_MODEL="$MODEL" lockstep kernels_test lockstep_bench_cuda
  echo "build ok"
  ;;
stage)
  mkdir -p "$STAGE_DIR" && cp .model-a/* "$STAGE_DIR/" && ls -la "$STAGE_DIR"
  ;;
run)
  [[ -f "$MODEL" ]] || cat "$STAGE_DIR/lockstep-model-part-aa" .model-b/lockstep-model-part-ab >"$MODEL"
  if [[ -f .model-b/SHA256 ]]; then
    [[ "$(sha256sum "$MODEL" | cut -d' ' -f1)" == "$(cat .model-b/SHA256)" ]] || { echo "model parts do not match"; exit 3; }
  fi
  cmake --build "$BUILD" -j "$(nproc)" --target lockstep kernels_test lockstep_bench_cuda >"$OUT/build.log" 2>&1 ||
    { grep -E "error|Error" "$OUT/build.log" | head -40; exit 3; }
  GPU="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -cs 'A-Za-z0-9' '-' | sed 's/-$//')"
  W="$OUT/work"
  mkdir -p "$W"
  rc=0
  echo "== per-op CPU vs CUDA (kernels_test *Portable*)"
  "$BUILD/tests/kernels_test" --gtest_filter='*Portable*' >"$W/portable-tests.log" 2>&1 || rc=1
  grep -E "^\[  (PASSED|FAILED|SKIPPED)|OK \]|FAILED \]|Failure|element" "$W/portable-tests.log" | head -30
  echo "== the CPU-made golden proof, verified at level bits on CUDA"
  /usr/bin/time -f "%e s wall" "$LSK" verify --suite suites/ci-gate.json --mode portable --device cuda --runs 2 \
    --processes 1 --golden "$GOLDEN" --out-dir "$W/verify" >"$W/verify.log" 2>&1 || rc=1
  grep -E "PASS|FAIL|golden|error|s wall" "$W/verify.log" | tail -6
  echo "== a CUDA-made proof (verify it on the CPU)"
  "$LSK" proof export --suite suites/ci-gate.json --mode portable --device cuda --out "$OUT/portable-$GPU.proof.json" \
    --out-dir "$W/export" >"$W/export.log" 2>&1 || rc=1
  "$LSK" proof diff "$GOLDEN" "$OUT/portable-$GPU.proof.json" --level bits 2>&1 | tail -3 || rc=1
  echo "== compare (stock vs invariant, bf16, 8 tokens decoded in the engine)"
  "$LSK" compare --runs 20 --device cuda --dtype bf16 --out-dir "$W/compare" 2>&1 | grep -E "unique|PASS|FAIL" || rc=1
  echo "== GEMM fp32: portable vs cuBLAS (TF32 off)"
  "$BUILD/kernels/lockstep_bench_cuda" --benchmark_filter='gemm_fp32_portable' --benchmark_out="$OUT/bench-portable.json" \
    --benchmark_out_format=json >"$W/bench.txt" 2>&1 || rc=1
  python3 - "$OUT/bench-portable.json" <<'PY' | tee "$OUT/portable-gemm.md"
import json, sys
rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    name, impl = b["name"].rsplit("/", 1)
    rows.setdefault(name.replace("gemm_fp32_portable/", ""), {})[impl.split("/")[0]] = b
print("| shape | portable us | cuBLAS fp32 us | portable TFLOP/s | cuBLAS TFLOP/s | ratio (cuBLAS time / portable time) |")
print("|---|---:|---:|---:|---:|---:|")
for shape, r in rows.items():
    p, c = r.get("portable"), r.get("cublas_fp32")
    if p and c:
        print(f"| {shape} | {p['real_time']:.1f} | {c['real_time']:.1f} | {p.get('TFLOP/s', 0)/1e12 if p.get('TFLOP/s', 0) > 1e6 else p.get('TFLOP/s', 0):.2f} | "
              f"{c.get('TFLOP/s', 0)/1e12 if c.get('TFLOP/s', 0) > 1e6 else c.get('TFLOP/s', 0):.2f} | {c['real_time']/p['real_time']:.2f}x |")
PY
  tar czf "$OUT/portable-out.tgz" -C "$OUT" work && rm -rf "$W"
  exit "$rc"
  ;;
*) echo "unknown LOCKSTEP_GPU_STAGE" >&2; exit 2 ;;
esac

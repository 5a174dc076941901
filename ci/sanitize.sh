#!/usr/bin/env bash
# Sanitizer builds (gcc, CPU only: -DLOCKSTEP_CUDA=OFF) in their own build
# folders, beside the normal build:
#
#   ci/sanitize.sh asan                ASan+UBSan build of the GoogleTest suites; ctest
#   ci/sanitize.sh tsan [WORKERS] [MODEL_WORKERS]
#                                      TSan build of `lockstep`; the stress suite
#                                      (suites/stress.json, 8 threads through one shared model)
#                                      with WORKERS requests (default 2000, the full stress) on a
#                                      tiny synthetic Llama, then MODEL_WORKERS (default 16) on the
#                                      embedded SmolLM2-135M
#   ci/sanitize.sh all [WORKERS] [MODEL_WORKERS]   both
# (0 workers skips that stress.) Environment: LOCKSTEP_TSAN_THREADS (default 8) stress threads;
# LOCKSTEP_SANITIZE_CMAKE_ARGS extra CMake arguments for the first configure.
#
# Sanitizer builds compile at -O1 -g1 (line tables: enough for every report's stack) with
# <ATen/ATen.h> precompiled (LOCKSTEP_PCH): about 3x less compile time than -O2 -g.
# Floating-point results do not depend on that: -ffp-contract=off and no -ffast-math, so the
# compiler may not reorder or fuse a float operation at any level (the goldens still match).
#
# Why two models for TSan: under TSan every memory access of lockstep's own code is checked,
# its CPU GEMM included, which makes one SmolLM2 token cost about 2 s on 2 cores; 2000 workers
# would take hours. The tiny model (tests/harness/catalogue/tiny_models.py: byte-level BPE,
# ChatML template, 1 layer) runs the same code paths (loader, tokenizer, chat template, engine,
# kernels, every lock) at 2000 workers in minutes; SmolLM2 adds the GGUF loader and its
# tokenizer under the same concurrency.
#
# Any sanitizer report fails the run: UBSan does not recover
# (-fno-sanitize-recover=undefined, halt_on_error), ASan and TSan exit
# non-zero on their first report. What is suppressed, and why, is in
# ci/sanitize.supp/ (one file per sanitizer); nothing in lockstep's own
# code (kernels/, core/, harness/) is suppressed.
# Exit status: 0 clean, 1 a sanitizer report or a failing test, 3 build failure.
set -uo pipefail
CI_TAG=sanitize; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
JOBS="${LOCKSTEP_JOBS:-$(nproc)}"
SUPP="$ROOT/ci/sanitize.supp"
mode="${1:-all}"
workers="${2:-2000}"
model_workers="${3:-16}"
PY="$VENV/bin/python"

configure_build() {  # dir, preset (CMakePresets.json: asan or tsan), targets...
  local dir="$1" preset="$2"; shift 2
  if [[ ! -f "$dir/build.ninja" ]]; then
    mkdir -p "$dir"
    echo "[sanitize] configuring $dir (preset $preset)" >&2
    # shellcheck disable=SC2086  # LOCKSTEP_SANITIZE_CMAKE_ARGS is a list of arguments
    cmake --preset "$preset" -S "$ROOT" -B "$dir" -DLOCKSTEP_PYTHON="$VENV/bin/python" ${LOCKSTEP_SANITIZE_CMAKE_ARGS:-} \
      >"$dir/configure.log" 2>&1 \
      || { cat "$dir/configure.log" >&2; echo "[sanitize] ERROR: configure failed" >&2; return 3; }
  fi
  echo "[sanitize] building $* in $dir" >&2
  cmake --build "$dir" -j "$JOBS" --target "$@" || { echo "[sanitize] ERROR: build failed" >&2; return 3; }
}

run_asan() {
  local dir="$BUILD-asan" start=$SECONDS
  # The suites of the weights, tokenizer, kernels and core (the engine). Not harness_test: building
  # the harness and serve libraries under ASan took 4-5 of the stage's 10 build minutes, and the
  # harness's parsers of untrusted input (proofs, suites, API requests) run under ASan+UBSan in the
  # fuzz smoke (ci/fuzz.sh), its threads under TSan (the stress below). LOCKSTEP_ASAN_TARGETS overrides.
  # shellcheck disable=SC2086  # a list of targets
  configure_build "$dir" asan \
    ${LOCKSTEP_ASAN_TARGETS:-weights_test tokenizer_test kernels_test core_test} || return $?
  echo "[sanitize] asan: build $((SECONDS - start)) s" >&2
  start=$SECONDS
  # libtorch and libgomp are not instrumented; ASan still checks every
  # access our code makes and every heap block, torch's included (malloc is
  # intercepted process-wide). LSan reports leaks whose allocation stack
  # is in uninstrumented third-party code only as listed in lsan.supp.
  # The engine's property test (200 requests on a tiny model) with 24 under ASan (40 took 68 s). Left out under
  # ASan (LOCKSTEP_SANITIZE_CTEST_EXCLUDE, a ctest -E regex, replaces this list; "" runs all): the
  # three slowest model tests (about 2.5 of the 10 minutes), whose code paths smaller tests run
  # under ASan too — EngineTest.ConcurrentRequests... (SmolLM2 requests through the engine: the
  # tiny-model EngineProperty.* and EngineTest.GenerateEqualsDecodingLoop), RealModel.* (SmolLM2
  # decoding, sampling and stops: the same code as the tiny-model generate and engine tests and
  # ChooseToken.*; SmolLM2.* keep its GGUF loader and tokenizer under ASan), HfFixtures.* (loading several fixture models:
  # the loader tests), and the two slowest invariance/numerics tests (Invariance.RequestAloneEquals...,
  # 37 s: the batched step's bits, which EngineProperty.* and the smaller Invariance.* run under ASan
  # too; Attention.MatchesFloat64Reference, 15 s: numerics against float64, where the other Attention.*
  # exercise the same kernels), and EnginePipeline.* (SmolLM2 through the pipelined engine, 100 s
  # under ASan: the tiny-model EngineProperty.* run pipelined steps, greedy and sampled, under ASan),
  # and the backend table's two slowest invariance rows, mm and SDPA on the CPU (50 and 33 s under
  # ASan: the same kernels run under ASan in their AgreesWithFloat64 rows and the other rows)
  # — all of them run uninstrumented in the main ctest.
  local exclude="${LOCKSTEP_SANITIZE_CTEST_EXCLUDE-EngineTest\.ConcurrentRequestsEqualTheirSoloRuns|RealModel\.|HfFixtures\.|Invariance\.RequestAloneEqualsRequestInBatch|Attention\.MatchesFloat64Reference|EnginePipeline\.|RowsAreBatchInvariant/(mm|scaled_dot_product_attention)_cpu}"
  # One test per core with one OpenMP thread each, as in ci/test.sh. Suites not built here appear to
  # ctest as <target>_NOT_BUILT: left out.
  ( cd "$dir" && LOCKSTEP_PROPERTY_REQUESTS="${LOCKSTEP_PROPERTY_REQUESTS:-24}" OMP_NUM_THREADS=1 \
    ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_odr_violation=0:strict_string_checks=1" \
    LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$SUPP/ubsan.supp" \
    ctest --output-on-failure --timeout 1800 -j "$JOBS" -E "${exclude:+$exclude|}_NOT_BUILT\$" )
  local rc=$?
  echo "[sanitize] asan: ctest $((SECONDS - start)) s, exit $rc" >&2
  ((rc == 0)) || return 1
}

run_tsan() {
  local dir="$BUILD-tsan" start=$SECONDS
  configure_build "$dir" tsan lockstep || return $?
  echo "[sanitize] tsan: build $((SECONDS - start)) s" >&2
  local out rc=0; out="$(mktemp -d)"
  "$PY" -c "import sys; sys.path.insert(0, '$ROOT/tests/harness/catalogue'); import tiny_models; tiny_models.write_hf_llama('$out/tiny')" \
    || { echo "[sanitize] ERROR: cannot write the tiny model" >&2; rm -rf "$out"; return 3; }
  if ((workers > 0)); then stress tiny "$workers" --model "$out/tiny" || rc=1; fi
  if ((rc == 0 && model_workers > 0)); then stress smollm2 "$model_workers" || rc=1; fi
  rm -rf "$out"
  return $rc
}

# stress NAME WORKERS [lockstep options]: the stress suite under TSan.
# OMP_NUM_THREADS=1: libgomp is not instrumented, so TSan cannot see its
# barriers and would report every OpenMP team as racing. With one OpenMP
# thread, the only concurrency left is lockstep's own: the stress workers
# (std::thread) running generations through one shared model.
stress() {
  local name=$1 n=$2 start=$SECONDS log="$out/$1.log"; shift 2
  OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$SUPP/tsan.supp" \
    "$BUILD-tsan/harness/lockstep" stress --suite "$ROOT/suites/stress.json" --workers "$n" --threads "${LOCKSTEP_TSAN_THREADS:-8}" \
      --out-dir "$out/$name" "$@" >"$log" 2>&1
  local rc=$?
  # A report's first lines name the racing accesses: show the head of a failed run's log.
  if ((rc == 0)); then tail -n 4 "$log" >&2; else head -n 150 "$log" >&2; fi
  echo "[sanitize] tsan: stress of $n workers on $name: $((SECONDS - start)) s, exit $rc" >&2
  ((rc == 0))
}

case "$mode" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) run_asan; a=$?; run_tsan; t=$?; ((a == 0 && t == 0)) || exit $((a == 3 || t == 3 ? 3 : 1)) ;;
  *) echo "usage: ci/sanitize.sh asan|tsan [WORKERS]|all [WORKERS]" >&2; exit 2 ;;
esac

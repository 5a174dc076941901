#!/usr/bin/env bash
# libFuzzer targets for lockstep's five file parsers and the HTTP API's request parser (fuzz/README in
# fuzz/FUZZ.md): build them with clang -fsanitize=fuzzer,address,undefined
# and run each over its committed seed corpus.
#
#   ci/fuzz.sh build            build the six targets into $LOCKSTEP_FUZZ_DIR
#   ci/fuzz.sh smoke [SECONDS]  build, then run each target SECONDS (default 20): CI
#   ci/fuzz.sh long [TARGET...] build, then run each target for 1,000,000
#                               executions or 600 s, whichever comes first
#                               (LOCKSTEP_FUZZ_PARALLEL=1: the targets at once)
#
# safetensors, gguf, tokenizer and suite need no libtorch. The proof target
# does (harness/proofs/proof.h reads runtime.environment through harness/env.h):
# proof.cpp and the JSON readers it calls are compiled instrumented here and
# the rest links from the gcc build in $LOCKSTEP_BUILD_DIR (ci/build.sh first).
# Exit status: 0 no finding, 1 a finding (the crashing input is written to
# $LOCKSTEP_FUZZ_DIR/findings/), 3 a build failure.
set -euo pipefail
CI_TAG=fuzz; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUT="${LOCKSTEP_FUZZ_DIR:-$BUILD/fuzz}"
CXX="${LOCKSTEP_FUZZ_CXX:-clang++}"
TARGETS=(safetensors gguf tokenizer suite proof api_request)
mode="${1:-smoke}"
shift || true

SAN=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
CXXFLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer -I"$ROOT" -D_GLIBCXX_USE_CXX11_ABI=1
          $(pkg-config --cflags libpcre2-8 icu-uc))

weights=(core/weights/safetensors.cpp core/weights/gguf.cpp core/weights/dequantize.cpp
         core/weights/mapped_file.cpp)
tokenizer=(core/tokenizer/tokenizer.cpp core/tokenizer/hf_tokenizer.cpp core/tokenizer/hf_components.cpp
           core/tokenizer/json_at.cpp core/tokenizer/bpe_model.cpp core/tokenizer/added_tokens.cpp
           core/tokenizer/normalizer.cpp core/tokenizer/decoder.cpp core/tokenizer/regex.cpp
           core/tokenizer/byte_level.cpp core/tokenizer/pretokenizer.cpp core/tokenizer/chat_template.cpp)
proof=(harness/proofs/proof.cpp harness/env.cpp harness/runs/run_record.cpp harness/proofs/canonical.cpp harness/proofs/signature.cpp)

compile() {  # source -> $OUT/obj/<path>.o, rebuilt when the source or any header is newer
  local src="$1" obj="$OUT/obj/${1%.cpp}.o"; shift
  mkdir -p "$(dirname "$obj")"
  if [[ -f "$obj" && -z "$(find "$ROOT/core" "$ROOT/harness" "$ROOT/kernels" "$ROOT/fuzz" -newer "$obj" -name '*.h' -print -quit)" && ! "$ROOT/$src" -nt "$obj" ]]; then
    return 0
  fi
  "$CXX" "${CXXFLAGS[@]}" "${SAN[@]}" "$@" -c "$ROOT/$src" -o "$obj"
}
export -f compile

torch_flags() {
  local prefix
  prefix="$("$VENV/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))')"
  echo "-isystem $prefix/include -isystem $prefix/include/torch/csrc/api/include"
}

build() {
  command -v "$CXX" >/dev/null || { echo "[fuzz] ERROR: $CXX not found (clang with libFuzzer)" >&2; exit 3; }
  mkdir -p "$OUT/obj"
  echo "[fuzz] building the targets into $OUT" >&2
  local jobs="${LOCKSTEP_JOBS:-$(nproc)}" src
  local -a plain=("${weights[@]}" "${tokenizer[@]}" harness/suite.cpp harness/runs/batch_plan.cpp fuzz/safetensors_fuzz.cpp
                  fuzz/gguf_fuzz.cpp fuzz/tokenizer_fuzz.cpp fuzz/suite_fuzz.cpp)
  export CXX OUT ROOT
  export CXXFLAGS_STR="${CXXFLAGS[*]}" SAN_STR="${SAN[*]}"
  local tflags; tflags="$(torch_flags)"
  {
    for src in "${plain[@]}"; do echo "$src"; done
    for src in "${proof[@]}" fuzz/proof_fuzz.cpp; do echo "$src $tflags"; done
    for src in harness/serve/api_request.cpp fuzz/api_request_fuzz.cpp; do echo "$src -DFMT_HEADER_ONLY=1"; done
  } | xargs -P "$jobs" -L 1 bash -c 'CXXFLAGS=($CXXFLAGS_STR); SAN=($SAN_STR); compile "$@"' _ \
    || { echo "[fuzz] ERROR: compiling failed" >&2; exit 3; }
  local -a W=() T=()
  for src in "${weights[@]}"; do W+=("$OUT/obj/${src%.cpp}.o"); done
  for src in "${tokenizer[@]}"; do T+=("$OUT/obj/${src%.cpp}.o"); done
  local link=("$CXX" "${SAN[@]}")
  "${link[@]}" "$OUT/obj/fuzz/safetensors_fuzz.o" "${W[@]}" -o "$OUT/safetensors_fuzz"
  "${link[@]}" "$OUT/obj/fuzz/gguf_fuzz.o" "${W[@]}" -o "$OUT/gguf_fuzz"
  "${link[@]}" "$OUT/obj/fuzz/tokenizer_fuzz.o" "${T[@]}" "${W[@]}" \
    $(pkg-config --libs libpcre2-8 icu-uc) -o "$OUT/tokenizer_fuzz"
  "${link[@]}" "$OUT/obj/fuzz/suite_fuzz.o" "$OUT/obj/harness/suite.o" "$OUT/obj/harness/runs/batch_plan.o" -o "$OUT/suite_fuzz"
  "${link[@]}" "$OUT/obj/fuzz/api_request_fuzz.o" "$OUT/obj/harness/serve/api_request.o" -o "$OUT/api_request_fuzz"
  # proof: instrumented proof.cpp & co. first, the rest from the gcc build's archives.
  local torch_lib; torch_lib="$("$VENV/bin/python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
  [[ -f "$BUILD/harness/liblockstep_harness.a" ]] \
    || { echo "[fuzz] ERROR: no $BUILD/harness/liblockstep_harness.a; run ci/build.sh first (the proof target links it)" >&2; exit 3; }
  local P=(); for src in "${proof[@]}"; do P+=("$OUT/obj/${src%.cpp}.o"); done
  "${link[@]}" "$OUT/obj/fuzz/proof_fuzz.o" "${P[@]}" -Wl,--start-group "$BUILD/harness/liblockstep_harness.a" \
    "$BUILD"/core/liblockstep_*.a -Wl,--end-group "$BUILD/kernels/liblockstep_kernels.so" \
    -L"$torch_lib" -Wl,-rpath,"$torch_lib" -Wl,-rpath,"$BUILD/kernels" -ltorch -ltorch_cpu -lc10 \
    $(pkg-config --libs libpcre2-8 icu-uc) -lcrypto -lgomp -o "$OUT/proof_fuzz"
}

run_target() {  # name, libFuzzer options...
  local name="$1"; shift
  local corpus="$OUT/corpus/$name" dict=()
  mkdir -p "$corpus" "$OUT/findings/$name"
  [[ -f "$ROOT/fuzz/$name.dict" ]] && dict=(-dict="$ROOT/fuzz/$name.dict")
  echo "[fuzz] $name $*" >&2
  # The working corpus grows in $OUT; the committed seeds are read-only input.
  "$OUT/${name}_fuzz" "$corpus" "$ROOT/fuzz/corpus/$name" "${dict[@]}" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$OUT/findings/$name/" -print_final_stats=1 "$@" \
    >"$OUT/$name.log" 2>&1
  local rc=$?
  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
    "$OUT/$name.log" >&2 || true
  if ((rc != 0)); then
    echo "[fuzz] FINDING in $name (exit $rc); log $OUT/$name.log, input in $OUT/findings/$name/" >&2
    tail -40 "$OUT/$name.log" >&2
  fi
  return $rc
}

case "$mode" in
  build) build ;;
  smoke)
    build
    seconds="${1:-20}"; failed=0
    for t in "${TARGETS[@]}"; do run_target "$t" -max_total_time="$seconds" || failed=1; done
    exit $failed ;;
  long)
    build
    (($#)) && TARGETS=("$@")
    failed=0
    if [[ "${LOCKSTEP_FUZZ_PARALLEL:-0}" == 1 ]]; then   # all targets at once, one process each
      pids=()
      for t in "${TARGETS[@]}"; do run_target "$t" -runs=1000000 -max_total_time=600 & pids+=($!); done
      for p in "${pids[@]}"; do wait "$p" || failed=1; done
    else
      for t in "${TARGETS[@]}"; do run_target "$t" -runs=1000000 -max_total_time=600 || failed=1; done
    fi
    exit $failed ;;
  *) echo "usage: ci/fuzz.sh build|smoke [SECONDS]|long [TARGET...]" >&2; exit 2 ;;
esac

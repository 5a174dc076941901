# Sourced by every ci/gpu-*.sh: the paths they share, the Debian packages the
# GPU image lacks (CLI11, fmt, PCRE2, ICU, cpp-httplib), unpacked from the carried .deps/
# (ci/device-prepare.sh) and made visible to CMake through PREFIX, and gpu_build (the
# configure + build stage every script runs).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-out}"
BUILD="${LOCKSTEP_BUILD_DIR:-$ROOT/build-gpu}"
mkdir -p "$OUT"
cd "$ROOT"

# A call that carries .deps unpacks it; later calls on the same (warm) machine
# reuse the unpacked tree, so they can spend the 64 MiB carry on other things.
DEPS=/tmp/lockstep-deps
PREFIX=()
if compgen -G ".deps/*.deb" >/dev/null; then
  mkdir -p "$DEPS"
  for deb in .deps/*.deb; do dpkg -x "$deb" "$DEPS"; done
fi
if [[ -d "$DEPS/usr" ]]; then
  export PKG_CONFIG_SYSROOT_DIR="$DEPS"
  # ICU (and the others) at run time: the image may have other versions.
  export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_PATH="$DEPS/usr/lib/x86_64-linux-gnu/pkgconfig"
  PREFIX=(-DCMAKE_PREFIX_PATH="$DEPS/usr")
fi

# The embedded GGUF on the device: part a staged in $STAGE_DIR by an earlier call, part b carried
# in .model-b (ci/device-prepare.sh). join_model re-joins them unless $MODEL already has the
# SHA-256 in .model-b/SHA256; exit 3 if the parts do not make that file.
STAGE_DIR=/tmp/lockstep-model
MODEL="$STAGE_DIR/model.gguf"
join_model() {
  if [[ "$(sha256sum "$MODEL" 2>/dev/null | cut -d' ' -f1)" != "$(cat .model-b/SHA256)" ]]; then
    cp .model-b/lockstep-model-part-a[b-z] "$STAGE_DIR/"   # parts staged by earlier calls are there already
    cat "$STAGE_DIR"/lockstep-model-part-a[a-z] >"$MODEL"
  fi
  [[ "$(sha256sum "$MODEL" | cut -d' ' -f1)" == "$(cat .model-b/SHA256)" ]] || { echo "model parts do not match"; exit 3; }
}

# Configures $BUILD (Release, CUDA, the unpacked .deps; -D arguments among the
# arguments are added, later ones winning) and builds the other arguments as
# targets (none: everything). GPU_BUILD_SOURCE builds another tree (default
# $ROOT), GPU_BUILD_LOG prefixes the log names. Logs in $OUT/configure.log and
# $OUT/build.log; on failure prints the errors and exits 3.
gpu_build() {
  local defs=() targets=() a source="${GPU_BUILD_SOURCE:-$ROOT}" log="$OUT/${GPU_BUILD_LOG:-}"
  for a in "$@"; do
    if [[ "$a" == -D* ]]; then defs+=("$a"); else targets+=(--target "$a"); fi
  done
  # CMakePresets.json's gpu preset; spelled out for a tree from before it (.snap) or a CMake older than 3.21
  local preset=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
  cmake -S "$source" --list-presets 2>/dev/null | grep -q '"gpu"' && preset=(--preset gpu)
  cmake "${preset[@]}" -S "$source" -B "$BUILD" -DLOCKSTEP_PYTHON="$(command -v python3)" \
    "${PREFIX[@]}" "${defs[@]}" >"${log}configure.log" 2>&1 || { tail -40 "${log}configure.log"; exit 3; }
  cmake --build "$BUILD" -j "$(nproc)" "${targets[@]}" >"${log}build.log" 2>&1 ||
    { grep -E "error|Error" "${log}build.log" | head -40; exit 3; }
}

# start_summary NAME: $OUT/NAME becomes the run's summary, which say() prints to and appends to;
# its first lines name the commit and the GPU.
start_summary() {
  SUMMARY="$OUT/$1"
  say "== $(date -u +%FT%TZ) commit ${LOCKSTEP_COMMIT:-unknown}"
  nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader | tee -a "$SUMMARY"
}
say() { echo "$@" | tee -a "$SUMMARY"; }

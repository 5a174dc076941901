#!/usr/bin/env bash
# The Python package: builds the lockstep-kernels wheel (python/pyproject.toml: scikit-build-core
# running this CMake project reduced to the kernels library, against the venv's torch) into
# build-wheel/dist/ and installs it into the project venv. ci/test.sh runs it after the build.
# Idempotent: a stamp of its inputs (kernels/, python/, CMakeLists.txt, the torch version, the CUDA
# choice) skips both steps; the CMake build dir (build-wheel/cmake) makes a rebuild incremental.
# CUDA kernels go into the wheel when a GPU is visible (nvidia-smi) or LOCKSTEP_CUDA=ON: on this
# 2-core CPU machine a CPU wheel takes ~80 s, one with CUDA kernels ~5 min (code that cannot run here).
# Exit code 3 when the wheel cannot be built or installed.
set -euo pipefail
CI_TAG=python-package; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUT="$ROOT/build-wheel"

PY="$VENV/bin/python"
[[ -x "$PY" ]] || die "no venv at $VENV: run ci/setup.sh first"
TORCH="$("$PY" -c 'import torch; print(torch.__version__)')" || die "$PY cannot import torch: run ci/setup.sh"
CUDA="${LOCKSTEP_CUDA:-}"
if [[ -z "$CUDA" ]]; then
  if nvidia-smi -L >/dev/null 2>&1; then CUDA=ON; else CUDA=OFF; fi
fi
WANT="$( (cd "$ROOT" && find kernels python CMakeLists.txt -type f ! -path '*/__pycache__/*' -print0 | sort -z \
          | xargs -0 sha256sum; echo "torch $TORCH cuda $CUDA") | sha256sum | cut -d' ' -f1)"
STAMP="$OUT/.stamp"
installed() { "$PY" -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("lockstep_kernels") else 1)' 2>/dev/null; }
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && compgen -G "$OUT/dist/*.whl" >/dev/null && installed; then
  say "wheel up to date and installed ($(basename "$OUT"/dist/*.whl))"
  exit 0
fi

say "building the wheel (CUDA kernels: $CUDA; torch $TORCH)"
rm -rf "$OUT/dist" "$STAMP"
mkdir -p "$OUT"
LOCKSTEP_CUDA="$CUDA" "$PY" -m pip --disable-pip-version-check wheel -q --no-build-isolation --no-deps \
  -C build-dir="$OUT/cmake" -w "$OUT/dist" "$ROOT/python" >"$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log" >&2; die "pip wheel ./python failed (log: $OUT/build.log)"; }
WHEEL="$(ls "$OUT"/dist/*.whl)"
"$PY" -m pip --disable-pip-version-check install -q --no-deps --force-reinstall "$WHEEL" \
  || die "pip install $WHEEL failed"
echo "$WANT" > "$STAMP"
say "installed $(basename "$WHEEL") into $VENV"

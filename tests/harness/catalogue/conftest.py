"""The catalogue's originals: two tiny HF Llama folders (other seeds, same shapes), a tiny GGUF and a
golden proof of the first, made once per session by the real CLI. Every case copies what it breaks."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from disk_check import run  # noqa: E402
from bad_case import verify_args  # noqa: E402
from tiny_models import gguf_llama, write_hf_llama  # noqa: E402


@pytest.fixture(scope="session")
def originals(lockstep_bin, tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue-originals")
    made = {"hf": write_hf_llama(root / "a" / "model", seed=7),
            "hf-other": write_hf_llama(root / "b" / "model", seed=8),
            "gguf": gguf_llama(seed=7)}
    golden = root / "golden.proof.json"
    result = run(lockstep_bin, verify_args(made["hf"], root / "out", "--golden", golden, "--update-golden"), cwd=root)
    assert result.returncode == 0, result.stderr
    made["golden"] = golden
    return made

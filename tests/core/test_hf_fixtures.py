"""The transformers fixture generator (tests/core/fixtures/make_hf_models.py) and what it writes.

Runs the generator once into a temporary folder and checks: the documented layout; every
safetensors file opens with the `safetensors` package and holds what the config implies (tied
models without lm_head.weight, shards as the index says); the references reload from the saved
folder to the same bits (so the files are what the references were computed from); the shared
seeds (llama-sharded and llama-bf16 hold llama's weights); and that a second run reproduces a
fixture byte for byte.
"""
import json
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
safetensors = pytest.importorskip("safetensors")
torch = pytest.importorskip("torch")

SCRIPT = pathlib.Path(__file__).resolve().parent / "fixtures" / "make_hf_models.py"
NAMES = ["gpt2", "llama", "llama-tied", "llama3-rope", "llama-bias", "mistral", "qwen2", "qwen3",
         "llama-sharded", "llama-bf16"]


def run_generator(out: pathlib.Path, *extra: str) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *extra], check=True,
                   capture_output=True, text=True, timeout=300)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("hf_fixtures")
    seconds = run_generator(out)
    assert seconds < 60, f"generator took {seconds:.1f} s (budget 60 s on the 2-core CI machine)"
    return out


def tensors_of(folder: pathlib.Path) -> dict:
    """name -> tensor over every safetensors file of a fixture, read by the safetensors package."""
    out = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safetensors.safe_open(str(path), framework="pt") as f:
            assert f.metadata() == {"format": "pt"}
            for name in f.keys():
                assert name not in out, f"{name} in two files"
                out[name] = f.get_tensor(name)
    return out


def test_layout(fixtures):
    index = json.loads((fixtures / "fixtures.json").read_text())
    assert sorted(index) == sorted(NAMES)
    for name in NAMES:
        d = fixtures / name
        for f in ["config.json", "reference.json", "logits.npy", "step_logits.npy"]:
            assert (d / f).is_file(), d / f
        sharded = (d / "model.safetensors.index.json").exists()
        assert sharded == index[name]["sharded"] == (name == "llama-sharded")
        assert (d / "model.safetensors").exists() != sharded
        ref = json.loads((d / "reference.json").read_text())
        config = json.loads((d / "config.json").read_text())
        assert ref["model_type"] == config["model_type"] == index[name]["model_type"]
        assert ref["reference"]["attn_implementation"] == "eager"
        assert ref["reference"]["compute_dtype"] == "float32"
        assert len(ref["greedy_ids"]) == 16
        vocab = config["vocab_size"]
        assert all(0 <= t < vocab for t in ref["prompt_ids"] + ref["greedy_ids"])
        logits = np.load(d / "logits.npy")
        steps = np.load(d / "step_logits.npy")
        assert logits.dtype == np.float32 and logits.shape == (len(ref["prompt_ids"]), vocab)
        assert steps.dtype == np.float32 and steps.shape == (16, vocab)
        assert np.isfinite(logits).all() and np.isfinite(steps).all()
        # The first greedy token is the argmax of the last prompt position.
        assert int(np.argmax(logits[-1])) == ref["greedy_ids"][0]
        assert [int(np.argmax(s)) for s in steps] == ref["greedy_ids"]
        assert ref["min_top2_gap"] > 1e-3, "greedy ids would be fragile"
        assert ref["fp32_vs_fp64"] < 1e-5


def test_safetensors_files(fixtures):
    for name in NAMES:
        d = fixtures / name
        config = json.loads((d / "config.json").read_text())
        tensors = tensors_of(d)
        tied = config.get("tie_word_embeddings")
        head = "lm_head.weight"
        assert (head in tensors) == (not tied), name
        dtypes = {t.dtype for t in tensors.values()}
        assert dtypes == {torch.bfloat16 if name == "llama-bf16" else torch.float32}, name
        if name == "llama-sharded":
            index = json.loads((d / "model.safetensors.index.json").read_text())
            assert set(index["weight_map"]) == set(tensors)
            shards = set(index["weight_map"].values())
            assert len(shards) > 1
            for shard in shards:
                with safetensors.safe_open(str(d / shard), framework="pt") as f:
                    assert {k for k, v in index["weight_map"].items() if v == shard} == set(f.keys())


def test_shared_seeds(fixtures):
    llama = tensors_of(fixtures / "llama")
    sharded = tensors_of(fixtures / "llama-sharded")
    bf16 = tensors_of(fixtures / "llama-bf16")
    assert set(llama) == set(sharded) == set(bf16)
    for name, t in llama.items():
        assert torch.equal(t, sharded[name]), name
        assert torch.equal(t.to(torch.bfloat16), bf16[name]), name  # round to nearest even
    assert np.array_equal(np.load(fixtures / "llama" / "logits.npy"),
                          np.load(fixtures / "llama-sharded" / "logits.npy"))


def test_references_reload_bit_for_bit(fixtures):
    torch.set_num_threads(1)  # as the generator
    for name in NAMES:
        d = fixtures / name
        ref = json.loads((d / "reference.json").read_text())
        model = transformers.AutoModelForCausalLM.from_pretrained(
            d, attn_implementation="eager", dtype=torch.float32).eval()
        with torch.no_grad():
            logits = model(torch.tensor([ref["prompt_ids"]])).logits[0].numpy()
        assert np.array_equal(logits, np.load(d / "logits.npy")), name


def test_reproducible(fixtures, tmp_path):
    run_generator(tmp_path, "--only", "qwen3", "llama-bf16")
    for name in ["qwen3", "llama-bf16"]:
        for f in sorted((fixtures / name).iterdir()):
            assert (tmp_path / name / f.name).read_bytes() == f.read_bytes(), f"{name}/{f.name}"

"""The harness against servers nobody here wrote: Hugging Face `transformers serve`, without and
with its continuous batching, started on 127.0.0.1 by the tests from the transformers[serving]
packages ci/setup.sh installs. Weights: a small random Llama with SmolLM2's tokenizer
(ci/make_random_llama.py --small) and the embedded SmolLM2-135M as a Hugging Face folder
(ci/gguf_to_hf.py).

What lockstep finds about transformers serve (5.23, CPU), and what these tests pin down:
- it ignores `logprobs` (it logs "Ignoring unsupported fields"), so the best level is tokens
  (the whole text): a text-only verifier cannot see drift in its logits; asking for
  --endpoint-level logprobs is refused with a clear message;
- its /v1/models answers HTTP 500 for a model loaded from a local folder: the server is still
  identified (URL and its `server: uvicorn` header) and the failure is recorded in the proof;
- on this CPU its answers did not change under concurrency in any run here (1 unique text);
  the counts on the embedded model beside lockstep serve are in harness/endpoint/README.md
  (ci/compare-servers.sh). lockstep's own server passes the same checks at the bits level
  (test_endpoint_cli.py), and `lockstep serve --mode off` is the negative control there."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from serve_client import free_port, wait_healthy
from test_cli import lockstep

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = pathlib.Path(sys.executable).parent


class TransformersServe:
    def __init__(self, model, *flags, timeout=300):
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = open(pathlib.Path(model).parent / f"serve-{time.monotonic_ns()}.log", "w+")
        self.proc = subprocess.Popen([VENV_BIN / "transformers", "serve", model, "--host", "127.0.0.1", "--port",
                                      self.url.rsplit(":", 1)[1], "--device", "cpu", "--dtype", "float32", *flags],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(self.url, self.proc, timeout, self.output)
        except RuntimeError:
            self.stop()
            raise

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def tokenizer_dir(default_model, tmp_path_factory):
    """SmolLM2's tokenizer and chat template, read from the embedded GGUF by transformers."""
    out = tmp_path_factory.mktemp("tokenizer")
    code = ("import sys, transformers; t = transformers.AutoTokenizer.from_pretrained(sys.argv[1], gguf_file=sys.argv[2]);"
            " t.save_pretrained(sys.argv[3])")
    subprocess.run([sys.executable, "-c", code, default_model.parent, default_model.name, out], check=True,
                   capture_output=True)
    return out


@pytest.fixture(scope="module")
def small_model(tokenizer_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "llama"
    subprocess.run([sys.executable, ROOT / "ci" / "make_random_llama.py", "--out", out, "--small",
                    "--tokenizer-from", tokenizer_dir], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def smollm2_folder(default_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("smollm2") / "hf"
    subprocess.run([sys.executable, ROOT / "ci" / "gguf_to_hf.py", "--gguf", default_model, "--out", out], check=True,
                   capture_output=True)
    return out


@pytest.fixture(scope="module", params=["one-at-a-time", "continuous-batching"])
def small_server(request, small_model):
    server = TransformersServe(small_model, *(["--continuous-batching"] if request.param != "one-at-a-time" else []))
    yield server
    server.stop()


def test_verify_sweep_and_stress_against_transformers_serve(lockstep_bin, small_server, tmp_path):
    url = small_server.url
    v = lockstep(lockstep_bin, "verify", "--endpoint", url, "--prompt", "hello", "--prompt", "a poem please",
                 "--max-new-tokens", "8", "--runs", "3", "--fillers", "4", "--out-dir", tmp_path / "v", timeout=900)
    assert v.returncode == 0, v.stderr[-3000:]
    assert "comparing at level tokens (the server returns no logprobs)" in v.stderr
    results = json.loads((tmp_path / "v" / "results.json").read_text())
    env = results["environment"]
    assert env["mode"] == "unknown" and env["device"] == "endpoint"
    assert "server: uvicorn" in env["server"] and "/v1/models failed: HTTP 500" in env["server"], env["server"]
    assert all(r["match"] for c in results["cases"] for r in c["runs"])
    proof = json.loads((tmp_path / "v" / "proof.json").read_text())
    assert "uvicorn" in proof["runtime"]["environment"]["server"]
    # Logprobs cannot be compared where the server drops them: refused, not passed as text.
    lp = lockstep(lockstep_bin, "verify", "--endpoint", url, "--prompt", "hello", "--max-new-tokens", "4", "--runs", "2",
                  "--fillers", "1", "--endpoint-level", "logprobs", "--out-dir", tmp_path / "lp")
    assert lp.returncode == 2 and "returned no logprobs" in lp.stderr, lp.stderr[-2000:]
    sw = lockstep(lockstep_bin, "sweep", "--endpoint", url, "--lengths", "2,9", "--batches", "1,4",
                  "--decode-tokens", "6", "--out-dir", tmp_path / "sw", timeout=900)
    assert sw.returncode == 0 and "0 of 2 (concurrency, length) cells differ" in sw.stderr, sw.stderr[-3000:]
    st = lockstep(lockstep_bin, "stress", "--endpoint", url, "--prompt", "hello", "--prompt", "two words",
                  "--max-new-tokens", "6", "--workers", "8", "--threads", "4", "--out-dir", tmp_path / "st",
                  timeout=900)
    assert st.returncode == 0 and "8/8 requests done, 0 differ" in st.stderr, st.stderr[-3000:]
    assert "Ignoring unsupported fields" in small_server.output() or "logprobs" in small_server.output()


def test_compare_counts_answers_of_transformers_serve_on_the_embedded_model(lockstep_bin, smollm2_folder, tmp_path):
    """The embedded model's weights in both of transformers' modes: compare runs, and its counts
    are what the server gave (tokens only; logprobs and bits n/a)."""
    for flags in ([], ["--continuous-batching"]):
        server = TransformersServe(smollm2_folder, *flags)
        try:
            out = tmp_path / ("cb" if flags else "plain")
            cmp = lockstep(lockstep_bin, "compare", "--endpoint", server.url, "--runs", "3", "--max-batch", "4",
                           "--decode-tokens", "8", "--out-dir", out, timeout=900)
            assert cmp.returncode in (0, 1), cmp.stderr[-3000:]
            doc = json.loads((out / "compare.json").read_text())
            assert doc["best_level"] == "tokens" and doc["unique"]["logprobs"] is None and doc["unique"]["bits"] is None
            assert 1 <= doc["unique"]["tokens"] <= 3 and len(doc["runs"]) == 3
            assert doc["verdict"] == ("pass" if doc["unique"]["tokens"] == 1 else "fail")
            print(f"transformers serve {flags}: unique texts {doc['unique']['tokens']} of 3 runs")
        finally:
            server.stop()


def llama_server_binary():
    """ci/llama-server.sh's cached build (or LOCKSTEP_LLAMA_SERVER); None when there is none."""
    named = os.environ.get("LOCKSTEP_LLAMA_SERVER")
    if named:
        return pathlib.Path(named)
    found = sorted((ROOT / "build-llama-server").glob("*/llama-server"))
    return found[-1] if found else None


@pytest.mark.skipif(llama_server_binary() is None,
                    reason="no llama-server build: ci/llama-server.sh builds it (not in CI: 12 min on 2 cores)")
def test_llama_server_with_parallel_slots_is_checked_at_the_logprobs_level(lockstep_bin, default_model, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen([llama_server_binary(), "-m", default_model, "--host", "127.0.0.1", "--port", str(port),
                                 "-np", "4", "-cb", "-c", "8192"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(url, proc, 120, lambda: (tmp_path / "server.log").read_text()[-3000:])
        v = lockstep(lockstep_bin, "verify", "--endpoint", url, "--prompt", "hello", "--prompt", "a poem please",
                     "--max-new-tokens", "8", "--runs", "2", "--fillers", "3", "--out-dir", tmp_path / "v", timeout=900)
        assert "comparing at level logprobs (the server returns logprobs)" in v.stderr, v.stderr[-3000:]
        assert v.returncode in (0, 1), v.stderr[-3000:]
        results = json.loads((tmp_path / "v" / "results.json").read_text())
        for c in results["cases"]:   # every step's digest covers the returned logprobs
            assert 1 <= len(c["output_ids"]) <= 8 and all(c["step_logits_sha256"]), c
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)

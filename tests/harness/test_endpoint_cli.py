"""`lockstep verify --endpoint URL`: the determinism check against a running OpenAI-compatible server.
Every run of every case goes with --fillers concurrent requests (never solo alone); against
`lockstep serve` the comparison is at the bits level and reproduces the in-process golden. The
negative control is `lockstep serve --mode off`, whose concurrent runs must differ."""
import json
import sys

import pytest

from serve_client import Server, free_port
from test_cli import lockstep

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent / "catalogue"))
from tiny_models import write_hf_llama  # noqa: E402

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "golden" / "smollm2-135m-instruct" / "cpu-x86_64.proof.json"


@pytest.fixture(scope="module")
def tiny_server(lockstep_bin, tmp_path_factory):
    model = write_hf_llama(tmp_path_factory.mktemp("tiny") / "llama")
    s = Server([lockstep_bin, "serve", "--model", model, "--port", "0", "--api-key-env", "EP_KEY"],
               env={"EP_KEY": "k1"})
    yield s.url
    assert s.stop()[0] == 0


def verify(binary, *args, env=None):
    return lockstep(binary, "verify", *args, env=env, timeout=900)


@pytest.mark.parametrize("level", ["bits", "logprobs", "tokens"])
def test_verify_against_lockstep_serve_passes_at_each_level(lockstep_bin, tiny_server, tmp_path, level):
    out = tmp_path / level
    proc = verify(lockstep_bin, "--endpoint", tiny_server + "/v1", "--api-key-env", "EP_KEY", "--prompt", "hello",
                  "--prompt", "a poem please", "--max-new-tokens", "12", "--runs", "3", "--endpoint-level", level,
                  "--out-dir", out, env={"EP_KEY": "k1"})
    assert proc.returncode == 0, proc.stderr
    assert f"comparing at level {level}" in proc.stderr and "with 8 concurrent fillers" in proc.stderr
    results = json.loads((out / "results.json").read_text())
    runs = [r for c in results["cases"] for r in c["runs"]]
    assert len(runs) == 4 and all(r["match"] and r["kind"] == "batch" for r in runs)
    # The runs really shared engine steps with the fillers.
    assert max(max(r["batch"]["sizes"]) for r in runs) > 1
    env = results["environment"]
    assert env["mode"] == "batch_invariant" and "x-lockstep-version" in env["server"]
    proof = json.loads((out / "proof.json").read_text())
    assert proof["runtime"]["environment"]["server"].startswith(tiny_server)


def test_the_server_reproduces_the_in_process_golden(lockstep_bin, default_model, tmp_path):
    s = Server([lockstep_bin, "serve", "--model", default_model, "--port", "0"])
    try:
        proc = verify(lockstep_bin, "--endpoint", s.url, "--suite", ROOT / "suites" / "ci-gate.json", "--case", "capital",
                      "--case", "unicode", "--runs", "2", "--golden", GOLDEN, "--out-dir", tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "golden (bits): 0 of 2 cases differ" in proc.stderr
    finally:
        assert s.stop()[0] == 0


def test_stock_kernels_behind_the_server_are_caught(lockstep_bin, default_model, tmp_path):
    """The negative control over HTTP: --mode off answers change with their concurrent neighbours."""
    s = Server([lockstep_bin, "serve", "--model", default_model, "--port", "0", "--mode", "off"])
    try:
        proc = verify(lockstep_bin, "--endpoint", s.url, "--suite", ROOT / "suites" / "ci-gate.json", "--case", "capital",
                      "--case", "code", "--max-new-tokens", "4", "--runs", "2", "--out-dir", tmp_path)
        assert proc.returncode == 1, proc.stderr[-3000:]
        assert "DIFFERS" in proc.stderr
        # Its golden made in batch_invariant mode is refused: another mode's bits are not comparable.
        refused = verify(lockstep_bin, "--endpoint", s.url, "--suite", ROOT / "suites" / "ci-gate.json", "--case",
                         "capital", "--runs", "2", "--golden", GOLDEN, "--out-dir", tmp_path / "g")
        assert refused.returncode == 2 and "cannot be compared bit for bit" in refused.stderr, refused.stderr[-2000:]
        # compare --endpoint: the text may stay the same while the logprobs and bits move.
        cmp = lockstep(lockstep_bin, "compare", "--endpoint", s.url, "--runs", "5", "--max-batch", "9",
                       "--decode-tokens", "4", "--out-dir", tmp_path / "cmp")
        assert cmp.returncode == 1, cmp.stderr[-2000:]
        doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
        assert doc["best_level"] == "bits" and doc["unique"]["bits"] > 1 and doc["verdict"] == "fail"
        assert doc["unique"]["logprobs"] > 1
        # sweep --endpoint: alone vs beside 8 concurrent requests, the bits move.
        sw = lockstep(lockstep_bin, "sweep", "--endpoint", s.url, "--lengths", "3,12", "--batches", "1,9",
                      "--decode-tokens", "4", "--out-dir", tmp_path / "sweep")
        assert sw.returncode == 1 and "DIFFERS" in sw.stderr, sw.stderr[-2000:]
    finally:
        assert s.stop()[0] == 0


def test_compare_against_lockstep_serve_finds_one_answer_at_every_level(lockstep_bin, tiny_server, tmp_path):
    proc = lockstep(lockstep_bin, "compare", "--endpoint", tiny_server, "--api-key-env", "EP_KEY", "--prompt", "hi",
                    "--runs", "6", "--max-batch", "9", "--decode-tokens", "8", "--out-dir", tmp_path,
                    env={"EP_KEY": "k1"})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert doc["unique"] == {"tokens": 1, "logprobs": 1, "bits": 1} and doc["verdict"] == "pass"
    assert "tokens 1, logprobs 1, bits 1" in proc.stdout
    assert max(r.get("largest_step_batch", 1) for r in doc["runs"]) > 1


def test_sweep_and_stress_against_lockstep_serve(lockstep_bin, tiny_server, tmp_path):
    """sweep --endpoint: concurrency levels instead of batch sizes; stress --endpoint: many requests
    in flight, each against its case's reference; both at the bits level."""
    env = {"EP_KEY": "k1"}
    sw = lockstep(lockstep_bin, "sweep", "--endpoint", tiny_server, "--api-key-env", "EP_KEY", "--lengths", "1,6",
                  "--batches", "1,4,8", "--decode-tokens", "6", "--out-dir", tmp_path / "sweep", env=env)
    assert sw.returncode == 0, sw.stderr
    assert "comparing at level bits" in sw.stderr and "0 of 4 (concurrency, length) cells differ" in sw.stderr
    results = json.loads((tmp_path / "sweep" / "results.json").read_text())
    assert [c["id"] for c in results["cases"]] == ["len-1", "len-6"]
    assert [r["label"] for r in results["cases"][0]["runs"]] == ["concurrency-4", "concurrency-8"]
    assert max(max(r["batch"]["sizes"]) for c in results["cases"] for r in c["runs"]) > 1
    st = lockstep(lockstep_bin, "stress", "--endpoint", tiny_server, "--api-key-env", "EP_KEY", "--prompt", "hello",
                  "--prompt", "a poem please", "--max-new-tokens", "8", "--workers", "12", "--threads", "6",
                  "--out-dir", tmp_path / "stress", env=env)
    assert st.returncode == 0, st.stderr
    assert "stress: 12/12 requests done, 0 differ" in st.stderr
    results = json.loads((tmp_path / "stress" / "results.json").read_text())
    workers = [r for c in results["cases"] for r in c["runs"] if r["kind"] == "thread"]
    assert len(workers) == 12 and all(r["match"] for r in workers)
    assert max(max(r["batch"]["sizes"]) for r in workers) > 1
    # A server's model is not lockstep's to reload.
    rl = lockstep(lockstep_bin, "reload", "--endpoint", tiny_server, "--prompt", "x", "--out-dir", tmp_path / "rl")
    assert rl.returncode == 2 and "cannot reload" in rl.stderr
    bad = lockstep(lockstep_bin, "sweep", "--endpoint", tiny_server, "--batches", "4", "--out-dir", tmp_path / "b")
    assert bad.returncode == 2 and "two concurrency levels" in bad.stderr


def test_endpoint_proofs_diff_and_merge_and_bench_runs_the_tiers(lockstep_bin, tiny_server, tmp_path):
    """Proofs of two runs against one server: `proof diff` finds them identical at the bits level,
    `proof merge --require-identical bits` merges them; bench --endpoint runs the tier benchmark."""
    env = {"EP_KEY": "k1"}
    for name in ("a", "b"):
        proc = verify(lockstep_bin, "--endpoint", tiny_server, "--api-key-env", "EP_KEY", "--prompt", "hello",
                      "--prompt", "a poem please", "--max-new-tokens", "6", "--runs", "2", "--fillers", "3",
                      "--out-dir", tmp_path / name, "--proof-out", tmp_path / f"{name}.proof.json", env=env)
        assert proc.returncode == 0, proc.stderr
    a, b = tmp_path / "a.proof.json", tmp_path / "b.proof.json"   # merge labels sources by file name
    diff = lockstep(lockstep_bin, "proof", "diff", a, b, "--level", "bits")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    merged = lockstep(lockstep_bin, "proof", "merge", a, b, "--out", tmp_path / "set.json", "--require-identical", "bits")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    sources = json.loads((tmp_path / "set.json").read_text())
    assert "x-lockstep-version" in json.dumps(sources)
    bench = lockstep(lockstep_bin, "bench", "--endpoint", tiny_server, "--api-key-env", "EP_KEY", "--tier", "1",
                     "--tier", "2", "--max-new-tokens", "4", "--fillers", "2", "--out-dir", tmp_path / "bench", env=env)
    assert bench.returncode == 0, bench.stderr[-3000:]
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert {c["tier"] for c in results["cases"]} == {1, 2} and all(c["runs"] for c in results["cases"])
    assert all(r["match"] and r["kind"] == "batch" for c in results["cases"] for r in c["runs"])


def test_bad_endpoints_and_options_are_clear(lockstep_bin, tiny_server, tmp_path):
    down = verify(lockstep_bin, "--endpoint", f"http://127.0.0.1:{free_port()}", "--prompt", "x", "--out-dir", tmp_path)
    assert down.returncode == 3 and "no answer" in down.stderr, down.stderr
    nokey = verify(lockstep_bin, "--endpoint", tiny_server, "--prompt", "x", "--out-dir", tmp_path)
    assert nokey.returncode == 2 and "API key" in nokey.stderr, nokey.stderr
    unset = verify(lockstep_bin, "--endpoint", tiny_server, "--api-key-env", "EP_NOPE", "--prompt", "x",
                   "--out-dir", tmp_path)
    assert unset.returncode == 2 and "EP_NOPE" in unset.stderr
    for args, words in [(["--endpoint-level", "vibes"], "--endpoint-level"), (["--batch-sizes", "3"], "in-process"),
                        (["--fillers", "0"], "never solo"), (["--runs", "1"], "at least 2")]:
        proc = verify(lockstep_bin, "--endpoint", tiny_server, "--api-key-env", "EP_KEY", "--prompt", "x", *args,
                      "--out-dir", tmp_path, env={"EP_KEY": "k1"})
        assert proc.returncode == 2 and words in proc.stderr, (args, proc.stderr)
    bad_url = verify(lockstep_bin, "--endpoint", "127.0.0.1:9", "--prompt", "x", "--out-dir", tmp_path)
    assert bad_url.returncode == 2 and "http://" in bad_url.stderr

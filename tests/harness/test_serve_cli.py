"""`lockstep serve`: the batching engine behind an OpenAI-compatible API, tested over real HTTP.

The promise over HTTP is the in-process one: an answer's bits (output ids and every step's raw-logits
SHA-256, in the `lockstep` field of every answer) do not depend on the concurrent requests it was
batched with, and equal `lockstep run`'s. The negative control is the same server with stock kernels
(--mode off), whose co-batched answers must differ at the bits level. Bad requests get a JSON 4xx and
leave the server healthy; SIGTERM finishes the requests in flight.
"""
import concurrent.futures
import json
import math
import random
import sys
import threading
import time

import pytest
import requests

from serve_client import Server, bits, post, stream
from test_cli import lockstep

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent / "catalogue"))
from tiny_models import write_hf_llama  # noqa: E402

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_hf_llama(tmp_path_factory.mktemp("tiny") / "llama")


@pytest.fixture(scope="module")
def server(lockstep_bin, tiny):
    s = Server([lockstep_bin, "serve", "--model", tiny, "--port", "0", "--api-key-env", "LOCKSTEP_TEST_KEY",
                "--max-body-bytes", "65536", "--max-tokens", "250"], env={"LOCKSTEP_TEST_KEY": KEY})
    yield s.url
    rc, log = s.stop()
    assert rc == 0, log
    assert "stopped after" in log


def complete(url, **body):
    r = post(url, "/v1/completions", body, AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def concurrently(url, bodies):
    """Sends every body at once (a barrier releases all threads together); the answers in order."""
    barrier = threading.Barrier(len(bodies))

    def send(body):
        barrier.wait()
        return complete(url, **body)

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def fillers(n, seed, long=150):
    rng = random.Random(seed)
    words = "the of river blue seven quickly under market glass north".split()
    return [{"prompt": " ".join(rng.choice(words) for _ in range(rng.randint(1, 12))),
             "max_tokens": rng.randint(long // 2, long), "ignore_eos": True} for _ in range(n)]


NEEDLES = [{"prompt": "Tell me about rivers", "max_tokens": 40, "ignore_eos": True},
           {"prompt": "ok", "max_tokens": 24, "ignore_eos": True},
           {"prompt": "x " * 60, "max_tokens": 32, "ignore_eos": True}]


def test_health_models_and_auth(server):
    health = requests.get(server + "/health", timeout=10).json()
    assert health["status"] == "ok" and set(health["engine"]) >= {"requests", "tokens", "cancelled"}
    r = requests.get(server + "/v1/models", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = requests.get(server + "/v1/models", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 401
    models = requests.get(server + "/v1/models", headers=AUTH, timeout=10).json()
    assert models["data"][0]["id"] == "llama" and len(models["data"][0]["lockstep"]["model_sha256"]) == 64
    r = requests.get(server + "/v1/models", headers=AUTH, timeout=10)
    assert r.headers["x-lockstep-mode"] == "batch_invariant" and r.headers["x-lockstep-version"]


def test_concurrent_answers_equal_their_solo_bits(server):
    solo = [complete(server, **n) for n in NEEDLES]
    for round_seed in (1, 2):
        answers = concurrently(server, fillers(9, round_seed) + NEEDLES)
        together = answers[-len(NEEDLES):]
        for alone, batched in zip(solo, together):
            assert bits(batched) == bits(alone)
            assert batched["choices"][0]["text"] == alone["choices"][0]["text"]
        # The check proves something only if the needles really shared steps with others.
        assert max(max(a["lockstep"]["choices"][0]["step_batch"]) for a in together) > 1
    assert all(s["usage"]["completion_tokens"] == n["max_tokens"] for s, n in zip(solo, NEEDLES))


def test_the_server_reproduces_lockstep_run(server, lockstep_bin, tiny):
    ran = lockstep(lockstep_bin, "run", "--model", tiny, "--prompt", "hi there", "--max-new-tokens", "12", "--json")
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)
    r = post(server, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi there"}],
                                               "max_tokens": 12}, AUTH)
    assert r.status_code == 200, r.text
    assert bits(r.json()) == (run["prompt_ids"], run["output_ids"], run["step_logits_sha256"])
    assert r.json()["choices"][0]["message"]["role"] == "assistant"


@pytest.mark.parametrize("path,body", [
    ("/v1/completions", {"prompt": "a river", "max_tokens": 20, "logprobs": 3}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 20,
                              "logprobs": True, "top_logprobs": 2}),
])
def test_a_streamed_answer_is_the_whole_answer(server, path, body):
    whole = post(server, path, body, AUTH).json()
    messages = stream(server, path, {**body, "stream_options": {"include_usage": True}}, AUTH)
    assert messages[-1] == "[DONE]"
    usage = messages[-2]
    assert usage["choices"] == [] and usage["usage"] == whole["usage"]
    chunks = messages[:-2]
    chat = path.endswith("chat/completions")
    text = "".join(c["choices"][0]["delta"].get("content", "") if chat else c["choices"][0]["text"] for c in chunks)
    expected = whole["choices"][0]["message"]["content"] if chat else whole["choices"][0]["text"]
    assert text == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert bits(chunks[-1]) == bits(whole)
    if chat:
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        streamed = [t for c in chunks for t in (c["choices"][0]["logprobs"] or {"content": []})["content"]]
        assert streamed == whole["choices"][0]["logprobs"]["content"]
    else:
        streamed = [p for c in chunks if c["choices"][0]["logprobs"] for p in c["choices"][0]["logprobs"]["token_logprobs"]]
        assert streamed == whole["choices"][0]["logprobs"]["token_logprobs"]


def test_stop_strings_cut_the_text_before_them(server):
    body = {"prompt": "a river", "max_tokens": 30, "ignore_eos": True}
    text = complete(server, **body)["choices"][0]["text"]
    at = next(i for i in range(4, len(text)) if text[i].isascii() and text[i].isprintable())
    stop = text[at]
    cut = complete(server, **body, stop=[stop, "never-there"])
    assert cut["choices"][0]["text"] == text[:text.index(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert cut["lockstep"]["choices"][0]["record"]["stop_reason"] == "stop_string"
    chunks = stream(server, "/v1/completions", {**body, "stop": stop}, AUTH)[:-1]
    assert "".join(c["choices"][0]["text"] for c in chunks) == text[:text.index(stop)]


def test_logprobs_are_a_log_softmax_and_reproducible(server):
    body = {"messages": [{"role": "user", "content": "count"}], "max_tokens": 10, "logprobs": True, "top_logprobs": 20}
    first = post(server, "/v1/chat/completions", body, AUTH).json()
    again = post(server, "/v1/chat/completions", body, AUTH).json()
    assert first["choices"][0]["logprobs"] == again["choices"][0]["logprobs"]   # bit for bit, as JSON text
    record = first["lockstep"]["choices"][0]["record"]
    for step, entry in enumerate(first["choices"][0]["logprobs"]["content"]):
        top = entry["top_logprobs"]
        assert len(top) == 20 and all(t["logprob"] <= 0 for t in top)
        assert [t["logprob"] for t in top] == sorted((t["logprob"] for t in top), reverse=True)
        assert sum(math.exp(t["logprob"]) for t in top) <= 1 + 1e-6
        assert entry["logprob"] == top[0]["logprob"]                        # greedy: the argmax
        # The top logit of the record and the top logprob belong to the same token.
        assert bytes(top[0]["bytes"]) == bytes(entry["bytes"])
        assert record["step_top"][step][0][0] == record["output_ids"][step]
    r = post(server, "/v1/chat/completions", {**body, "top_logprobs": 21}, AUTH)
    assert r.status_code == 400 and r.json()["error"]["param"] == "top_logprobs"


def test_sampled_choices_use_their_own_streams(server):
    body = {"prompt": "pick", "max_tokens": 16, "temperature": 1.0, "seed": 1234, "ignore_eos": True}
    three = complete(server, **body, n=3)
    assert [c["rng_stream"] for c in three["lockstep"]["choices"]] == [0, 1, 2]
    assert len({tuple(bits(three, i)[1]) for i in range(3)}) > 1
    one = complete(server, **body)
    assert bits(one) == bits(three, 0)                   # choice 0 is the request with n=1
    assert bits(complete(server, **body)) == bits(one)   # and reproducible
    r = post(server, "/v1/completions", {"prompt": "pick", "temperature": 0.8}, AUTH)
    assert r.status_code == 400 and "seed" in r.json()["error"]["message"]


BAD = [
    ("/v1/completions", b"{not json", 400, None),
    ("/v1/completions", b"[1, 2]", 400, None),
    ("/v1/completions", {"prompt": "x", "frobnicate": True}, 400, "frobnicate"),
    ("/v1/completions", {"prompt": "x", "max_tokens": "many"}, 400, "max_tokens"),
    ("/v1/completions", {"prompt": "x", "max_tokens": 251}, 400, "max_tokens"),
    ("/v1/completions", {"prompt": "x", "presence_penalty": 1}, 400, "presence_penalty"),
    ("/v1/completions", {"prompt": [1, 2, 99999]}, 400, "prompt"),
    ("/v1/completions", {"prompt": "word " * 300}, 400, "prompt"),
    ("/v1/completions", {"prompt": "word word", "max_tokens": 250}, 400, "max_tokens"),
    ("/v1/completions", {"model": "gpt-4", "prompt": "x"}, 404, "model"),
    ("/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]}, 400, "messages"),
    ("/v1/chat/completions", {"messages": "hi"}, 400, "messages"),
    ("/v1/completions", {"prompt": "x" * 70000}, 413, None),
    ("/v1/nothing", {}, 404, None),
]


@pytest.mark.parametrize("path,body,status,param", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_requests_get_a_json_error(server, path, body, status, param):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = requests.post(server + path, data=data, headers={**AUTH, "Content-Type": "application/json"}, timeout=30)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"] and error["type"]
    if param:
        assert error["param"] == param
    assert requests.get(server + "/health", timeout=10).status_code == 200


def test_serve_refuses_bad_options(lockstep_bin, tiny):
    for args, words in [(["--port", "70000"], "--port"), (["--api-key-env", "LOCKSTEP_NO_SUCH_VAR"], "not set"),
                        (["--max-concurrent", "0"], "--max-concurrent"), (["--mode", "fast"], "mode")]:
        proc = lockstep(lockstep_bin, "serve", "--model", tiny, *args)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr


def test_stock_kernels_differ_co_batched_and_sigterm_finishes_requests(lockstep_bin, default_model):
    """The negative control over HTTP: the embedded model with --mode off gives co-batched answers whose
    bits differ from the same requests alone. Then SIGTERM while a request is in flight: it finishes."""
    s = Server([lockstep_bin, "serve", "--model", default_model, "--port", "0", "--mode", "off"])
    try:
        prompts = [f"Name a color number {i}." for i in range(6)]
        solo = [complete(s.url, prompt=p, max_tokens=6, ignore_eos=True) for p in prompts]
        together = concurrently(s.url, [{"prompt": p, "max_tokens": 6, "ignore_eos": True} for p in prompts])
        assert max(max(a["lockstep"]["choices"][0]["step_batch"]) for a in together) > 1
        differ = [i for i in range(len(prompts)) if bits(solo[i]) != bits(together[i])]
        assert differ, "stock kernels gave co-batched bits equal to solo: the check could not fail"

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(complete, s.url, prompt="Write a long story.", max_tokens=64, ignore_eos=True)
            threading.Event().wait(0.7)   # 64 tokens take seconds on a CPU
            rc, log = s.stop()
            answer = pending.result()
        assert answer["usage"]["completion_tokens"] == 64
        assert rc == 0 and "finishing 1 in flight" in log, log
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


def test_a_client_that_leaves_a_stream_cancels_its_request(lockstep_bin, default_model):
    """The engine stops generating for a client that closed its stream: the request ends before the
    next step (its KV blocks and batch row freed), counted in /health's engine.cancelled."""
    s = Server([lockstep_bin, "serve", "--model", default_model, "--port", "0"])
    try:   # SmolLM2 on 2 cores: 3000 tokens would take minutes
        body = {"prompt": "tell me everything", "max_tokens": 3000, "stream": True}
        with requests.post(s.url + "/v1/completions", json=body, stream=True, timeout=60) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            got = [line for line in (next(lines) for _ in range(6)) if line]
            assert got and got[0].startswith(b"data: ")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            engine = requests.get(s.url + "/health", timeout=10).json()["engine"]
            if engine["cancelled"] == 1:
                break
            time.sleep(0.05)
        assert engine["cancelled"] == 1, engine
        assert engine["tokens"] < 3000, engine   # it stopped early
        # The server is healthy and answers the next request in full.
        r = requests.post(s.url + "/v1/completions", json={"prompt": "hi", "max_tokens": 5}, timeout=60)
        assert r.status_code == 200 and len(r.json()["lockstep"]["choices"][0]["record"]["output_ids"]) >= 1
    finally:
        assert s.stop()[0] == 0

"""`lockstep chat`: answers stream through the batching engine, and its --export trace
replays bit for bit with `lockstep session replay` (which decodes every turn solo, so
this is also engine == solo on a multi-turn conversation with reused KV). A perturbed
replay must fail (the negative control); bad input is refused with exit 2, and the
trace keeps the turns before a conversation outgrows the context.
"""
import json
import sys

import pytest

from test_cli import lockstep

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent / "catalogue"))
from tiny_models import CONTEXT, write_hf_llama  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_hf_llama(tmp_path_factory.mktemp("tiny") / "llama")


def chat(binary, model, messages, *args, env=None):
    return lockstep(binary, "chat", "--model", model, *args, input="".join(m + "\n" for m in messages), env=env)


def test_chat_streams_answers_and_its_trace_replays_bit_for_bit(lockstep_bin, fault_bin, tiny, tmp_path):
    trace = tmp_path / "chat.trace.json"
    proc = chat(lockstep_bin, tiny, ["hello there", "and a second turn,\\", "on two lines"],
                "--system", "Be brief.", "--max-new-tokens", "16", "--export", trace)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(trace.read_text())
    assert doc["schema"] == "lockstep.trace/1" and doc["runtime"]["environment"]["mode"] == "batch_invariant"
    steps = doc["script"]["steps"]
    assert [s["type"] for s in steps] == ["user", "generate", "user", "generate"]
    assert steps[2]["text"] == "and a second turn,\non two lines"
    assert doc["script"]["system"] == "Be brief."
    answers = [t for t in doc["turns"] if t["type"] == "generate"]
    assert len(answers) == 2 and all(len(t["output_ids"]) >= 1 for t in answers)
    # What streamed to stdout is each answer's text, one per line.
    assert proc.stdout == "".join(t["text"] + "\n" for t in answers)
    assert "2 answers" in proc.stderr and "tokens/s" in proc.stderr

    same = lockstep(lockstep_bin, "session", "replay", trace, "--model", tiny, "--json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["verdict"] == "same"
    assert "all 4 turns identical" in same.stderr

    # Negative control: the replay of the second answer perturbed by one ULP must be caught.
    bad = lockstep(fault_bin, "session", "replay", trace, "--model", tiny, "--json",
                   env={"LOCKSTEP_TEST_FAULT": "perturb-logit:replay-turn-3"})
    assert bad.returncode == 1, bad.stderr
    assert json.loads(bad.stdout)["first_divergence"]["turn"] == 3


def test_sampled_chat_records_its_seed_and_replays(lockstep_bin, tiny, tmp_path):
    trace = tmp_path / "sampled.json"
    proc = chat(lockstep_bin, tiny, ["pick something"], "--temperature", "0.9", "--max-new-tokens", "12",
                "--export", trace)
    assert proc.returncode == 0, proc.stderr
    assert "with --seed" in proc.stderr
    step = json.loads(trace.read_text())["script"]["steps"][1]
    assert step["temperature"] == 0.9 and isinstance(step["seed"], int)
    replay = lockstep(lockstep_bin, "session", "replay", trace, "--model", tiny)
    assert replay.returncode == 0, replay.stderr


def test_export_is_not_overwritten_without_force(lockstep_bin, tiny, tmp_path):
    trace = tmp_path / "kept.json"
    trace.write_text("precious")
    proc = chat(lockstep_bin, tiny, ["hi"], "--export", trace)
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert trace.read_text() == "precious"
    again = chat(lockstep_bin, tiny, ["hi"], "--export", trace, "--force", "--max-new-tokens", "4")
    assert again.returncode == 0, again.stderr
    assert json.loads(trace.read_text())["schema"] == "lockstep.trace/1"


def test_a_conversation_past_the_context_fails_and_keeps_the_earlier_turns(lockstep_bin, tiny, tmp_path):
    trace = tmp_path / "long.json"
    proc = chat(lockstep_bin, tiny, ["short", "x" * CONTEXT], "--max-new-tokens", "8", "--export", trace)
    assert proc.returncode == 2, proc.stderr
    assert "context" in proc.stderr or "capacity" in proc.stderr
    doc = json.loads(trace.read_text())
    assert [t["type"] for t in doc["turns"]] == ["user", "generate"]
    assert lockstep(lockstep_bin, "session", "replay", trace, "--model", tiny).returncode == 0


@pytest.mark.parametrize("args, message", [
    (["--temperature", "-1"], "--temperature"),
    (["--max-new-tokens", "0"], "--max-new-tokens"),
])
def test_bad_options_exit_2(lockstep_bin, tiny, args, message):
    proc = chat(lockstep_bin, tiny, ["hi"], *args)
    assert proc.returncode == 2 and message in proc.stderr


def test_help_names_export_and_replay(lockstep_bin):
    proc = lockstep(lockstep_bin, "chat", "--help")
    assert proc.returncode == 0
    assert "--export" in proc.stdout and "session replay" in proc.stdout

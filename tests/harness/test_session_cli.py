"""`lockstep session trace | replay | diff` end to end on the real default model,
with the sample session of suites/sessions (user turns, model turns, a scripted
tool call and its canned answer): a trace replays bit for bit; a perturbed
replay (LOCKSTEP_TEST_FAULT) fails naming the turn, step and token; every way a
trace file can be wrong is refused with the right exit code.
"""
import copy
import json
import pathlib

import pytest

from test_cli import lockstep
from test_proof_cli import canonical_digest, flip_hex, reseal

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "suites" / "sessions" / "weather-tool.json"


@pytest.fixture(scope="module")
def traced(lockstep_bin, default_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("session") / "weather.trace.json"
    proc = lockstep(lockstep_bin, "session", "trace", "--script", SCRIPT, "--out", out, "--model", default_model,
                    "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    return out, summary, proc.stderr


def test_trace_records_every_turn(traced):
    path, summary, stderr = traced
    doc = json.loads(path.read_text())
    script = json.loads(SCRIPT.read_text())
    assert doc["schema"] == "lockstep.trace/1"
    assert doc["digest"]["value"] == canonical_digest(doc) == summary["digest"]
    assert doc["script"] == script
    assert [t["type"] for t in doc["turns"]] == [s["type"] for s in script["steps"]]
    assert summary["turns"] == len(script["steps"]) and summary["error"] is None
    generated = [t for t in doc["turns"] if t["type"] == "generate"]
    assert summary["generated_tokens"] == sum(len(t["output_ids"]) for t in generated) > 0
    for t in generated:
        assert len(t["step_logits_sha256"]) == len(t["output_ids"]) == len(t["step_top"]) > 0
    # Each model turn prefills the whole conversation so far: prompts grow and extend each other's text.
    assert len(generated[0]["input_ids"]) < len(generated[1]["input_ids"]) < len(generated[2]["input_ids"])
    call = doc["turns"][2]
    assert call["text"] == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    answer = doc["turns"][3]["answers"][0]
    assert answer["name"] == "get_weather" and json.loads(answer["result"])["sky"] == "light rain"
    # Progress: one line per turn.
    assert stderr.count("session trace: turn ") == len(script["steps"])


def test_trace_refuses_to_overwrite_without_force(lockstep_bin, traced):
    path, _, _ = traced
    before = path.read_bytes()
    proc = lockstep(lockstep_bin, "session", "trace", "--script", SCRIPT, "--out", path)
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert path.read_bytes() == before


def test_replay_matches_bit_for_bit(lockstep_bin, default_model, traced):
    path, _, _ = traced
    proc = lockstep(lockstep_bin, "session", "replay", path, "--model", default_model, "--json")
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["verdict"] == "same" and "first_divergence" not in verdict
    assert "all 7 turns identical" in proc.stderr


def test_perturbed_replay_names_turn_step_and_token(fault_bin, default_model, traced):
    path, _, _ = traced
    proc = lockstep(fault_bin, "session", "replay", path, "--model", default_model, "--json",
                    env={"LOCKSTEP_TEST_FAULT": "perturb-logit:replay-turn-4"})
    assert proc.returncode == 1, proc.stderr
    first = json.loads(proc.stdout)["first_divergence"]
    assert first["turn"] == 4 and first["type"] == "generate"
    div = first["divergence"]
    assert div["step"] == 0 and div["reason"] == "logits"
    assert div["expected_top"] and div["actual_top"] and div["max_ulp"] == 1
    assert div["expected_text"]   # tokens are named
    assert "first divergence: turn 4 (generate): step 0: logits sha256" in proc.stderr
    assert "max ULP distance 1" in proc.stderr


def edited(path, tmp_path, name, edit, seal=True):
    doc = json.loads(path.read_text())
    edit(doc)
    if seal:
        reseal(doc)
    out = tmp_path / name
    out.write_text(json.dumps(doc))
    return out


def test_diff_of_traces(lockstep_bin, traced, tmp_path):
    path, _, _ = traced
    same = lockstep(lockstep_bin, "session", "diff", path, path, "--json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["verdict"] == "same"

    def change_digest(doc):
        doc["turns"][6]["step_logits_sha256"][1] = flip_hex(doc["turns"][6]["step_logits_sha256"][1])
    changed = edited(path, tmp_path, "changed.json", change_digest)
    differ = lockstep(lockstep_bin, "session", "diff", path, changed, "--json")
    assert differ.returncode == 1, differ.stderr
    first = json.loads(differ.stdout)["first_divergence"]
    assert (first["turn"], first["divergence"]["step"]) == (6, 1)
    assert "turn 6 (generate): step 1" in differ.stderr


def test_replay_of_changed_trace_fails_with_1(lockstep_bin, default_model, traced, tmp_path):
    path, _, _ = traced

    def change_digest(doc):
        doc["turns"][1]["step_logits_sha256"][3] = flip_hex(doc["turns"][1]["step_logits_sha256"][3])
    changed = edited(path, tmp_path, "changed.json", change_digest)
    proc = lockstep(lockstep_bin, "session", "replay", changed, "--model", default_model)
    assert proc.returncode == 1, proc.stderr
    assert "first divergence: turn 1 (generate): step 3" in proc.stderr


@pytest.mark.parametrize("defect", ["tampered", "truncated", "schema", "model", "inconsistent"])
def test_bad_traces_are_refused_with_2(lockstep_bin, default_model, traced, tmp_path, defect):
    path, _, _ = traced
    if defect == "tampered":
        bad = edited(path, tmp_path, "bad.json", lambda d: d["turns"][0].update(text="Weather in Rome?"), seal=False)
        message = "changed after it was written"
    elif defect == "truncated":
        bad = tmp_path / "bad.json"
        bad.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
        message = "not valid JSON"
    elif defect == "schema":
        bad = edited(path, tmp_path, "bad.json", lambda d: d.update(schema="lockstep.proof/1"))
        message = "is not supported (expected lockstep.trace/1)"
    elif defect == "model":
        bad = edited(path, tmp_path, "bad.json", lambda d: d["model"].update(file_sha256="0" * 64))
        message = "is another model"
    else:
        bad = edited(path, tmp_path, "bad.json", lambda d: d["turns"].pop())
        message = "6 turns for a script of 7 steps"
    replay = lockstep(lockstep_bin, "session", "replay", bad, "--model", default_model)
    assert replay.returncode == 2, replay.stderr
    assert message in replay.stderr
    if defect != "model":
        diff = lockstep(lockstep_bin, "session", "diff", path, bad)
        assert diff.returncode == 2 and message in diff.stderr


def write_script(tmp_path, edit):
    script = json.loads(SCRIPT.read_text())
    edit(script)
    out = tmp_path / "script.json"
    out.write_text(json.dumps(script))
    return out


@pytest.mark.parametrize("edit,message", [
    (lambda s: s["steps"].insert(1, {"type": "dance"}), "steps[1].type: unknown step type 'dance'"),
    (lambda s: s["steps"][2]["arguments"].update(city="Rome"), "steps[2]: no canned answer in \"tools\" for get_weather"),
    (lambda s: s["steps"][1].update(temperature=0.8), "steps[1]: temperature > 0 needs a seed"),
    (lambda s: s.update(schema="lockstep.session/1"), "is not supported (expected lockstep.session/0)"),
])
def test_bad_scripts_are_refused_with_2(lockstep_bin, tmp_path, edit, message):
    script = write_script(tmp_path, edit)
    out = tmp_path / "t.json"
    proc = lockstep(lockstep_bin, "session", "trace", "--script", script, "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and not out.exists()
    assert "loading model" not in proc.stderr   # refused before the model loads


def test_tool_result_with_nothing_to_answer_is_recorded(lockstep_bin, default_model, tmp_path):
    def edit(s):
        s["steps"] = [{"type": "user", "text": "Hi"}, {"type": "generate", "max_new_tokens": 2},
                      {"type": "tool_result"}, {"type": "generate", "max_new_tokens": 2}]
    script = write_script(tmp_path, edit)
    out = tmp_path / "t.json"
    proc = lockstep(lockstep_bin, "session", "trace", "--script", script, "--out", out, "--model", default_model)
    assert proc.returncode == 2, proc.stderr
    assert "stopped at step 2 (tool_result): nothing to answer" in proc.stderr
    doc = json.loads(out.read_text())
    assert len(doc["turns"]) == 3 and "nothing to answer" in doc["turns"][2]["error"]


def test_help_lists_the_options(lockstep_bin):
    for sub, options in {"trace": ["--script", "--out", "--force", "--model", "--json", "Exit codes"],
                         "replay": ["--model", "--json", "ULP", "Exit codes"],
                         "diff": ["--json", "Exit codes"]}.items():
        proc = lockstep(lockstep_bin, "session", sub, "--help")
        assert proc.returncode == 0
        for option in options:
            assert option in proc.stdout, (sub, option)
    top = lockstep(lockstep_bin, "session", "--help")
    assert top.returncode == 0 and all(s in top.stdout for s in ("trace", "replay", "diff"))
    assert lockstep(lockstep_bin, "session").returncode == 2


def test_environment_problems_exit_3(lockstep_bin, traced, tmp_path):
    path, _, _ = traced
    missing = tmp_path / "none.gguf"
    for args in (["trace", "--script", SCRIPT, "--out", tmp_path / "t.json", "--model", missing],
                 ["replay", path, "--model", missing]):
        proc = lockstep(lockstep_bin, "session", *args)
        assert proc.returncode == 3 and "model file not found" in proc.stderr, proc.stderr
    assert not (tmp_path / "t.json").exists()

"""End-to-end tests of the lockstep CLI: the real binary on the real default model.

Prompts are short and max_new_tokens small: a CPU CI box generates a few
tens of tokens per second.
"""
import hashlib
import json
import os
import struct
import subprocess

import numpy as np
import pytest
from junitparser import Failure, JUnitXml

PROMPTS = ["What is 2+2?", "Name a color."]


def lockstep(binary, *args, env=None, timeout=600, input=None):
    full_env = dict(os.environ)
    full_env.pop("LOCKSTEP_TEST_FAULT", None)
    full_env.update(env or {})
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, env=full_env,
                          timeout=timeout, input=input)


def verify_args(model, out_dir, *extra):
    args = ["verify", "--model", model, "--runs", "2", "--processes", "1", "--max-new-tokens", "8",
            "--out-dir", out_dir]
    for prompt in PROMPTS:
        args += ["--prompt", prompt]
    return args + list(extra)


def ids_sha256(ids):
    return hashlib.sha256(struct.pack(f"<{len(ids)}i", *ids)).hexdigest()


def read_junit(junit_path, suite="prompts"):
    """The one <testsuite> of a verify's junit.xml (named by its suite: "prompts" for --prompt)."""
    xml = JUnitXml.fromfile(str(junit_path))
    suites = list(xml)
    assert [s.name for s in suites] == [suite]
    return suites[0], list(suites[0])


# ---- run -----------------------------------------------------------------

def test_run_answers_the_capital_of_france(lockstep_bin, default_model):
    result = lockstep(lockstep_bin, "run", "--model", default_model, "--prompt",
                      "What is the capital of France?", "--max-new-tokens", "24")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "<|im_end|>" not in result.stdout


def test_run_json_and_logits_dump_agree(lockstep_bin, default_model, tmp_path):
    dump = tmp_path / "logits" / "steps.npy"
    result = lockstep(lockstep_bin, "run", "--model", default_model, "--prompt", "Say hello.",
                      "--max-new-tokens", "6", "--json", "--dump-logits", dump)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    for key in ("prompt", "prompt_ids", "output_ids", "text", "step_logits_sha256", "ids_sha256",
                "stop_reason", "timings"):
        assert key in record, key
    assert record["prompt"] == "Say hello."
    assert set(record["timings"]) >= {"load_s", "generate_s", "tokens_per_s"}
    steps = len(record["output_ids"])
    assert 1 <= steps <= 6
    assert len(record["step_logits_sha256"]) == steps
    assert record["ids_sha256"] == ids_sha256(record["output_ids"])
    assert record["stop_reason"] in ("eos", "stop_id", "max_tokens")

    logits = np.load(dump)
    assert logits.dtype == np.float32
    assert logits.shape[0] == steps and logits.shape[1] > 1000
    # The dump holds exactly the bytes that were hashed, and greedy picks each row's argmax.
    for step in range(steps):
        assert hashlib.sha256(logits[step].tobytes()).hexdigest() == record["step_logits_sha256"][step]
        assert int(np.argmax(logits[step])) == record["output_ids"][step]
    assert [p.name for p in dump.parent.iterdir()] == ["steps.npy"]


def test_run_raw_prompt_has_no_chat_template(lockstep_bin, default_model):
    chat = json.loads(lockstep(lockstep_bin, "run", "--model", default_model, "--prompt", "Hello",
                               "--max-new-tokens", "1", "--json").stdout)
    raw = json.loads(lockstep(lockstep_bin, "run", "--model", default_model, "--prompt", "Hello", "--raw",
                              "--max-new-tokens", "1", "--json").stdout)
    assert len(raw["prompt_ids"]) < len(chat["prompt_ids"])


def test_sampling_without_seed_is_bad_input(lockstep_bin, default_model):
    result = lockstep(lockstep_bin, "run", "--model", default_model, "--prompt", "Hi", "--temperature", "0.7")
    assert result.returncode == 2
    assert "seed" in result.stderr


def test_sampling_with_seed_is_reproducible(lockstep_bin, default_model):
    args = ["run", "--model", default_model, "--prompt", "Tell me a word.", "--max-new-tokens", "5",
            "--temperature", "0.9", "--seed", "7", "--top-k", "40", "--top-p", "0.95", "--json"]
    first, second = lockstep(lockstep_bin, *args), lockstep(lockstep_bin, *args)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["step_logits_sha256"] == json.loads(second.stdout)["step_logits_sha256"]
    assert json.loads(first.stdout)["output_ids"] == json.loads(second.stdout)["output_ids"]


# ---- verify --------------------------------------------------------------

@pytest.fixture(scope="module")
def passing_verify(lockstep_bin, default_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("verify-pass")
    result = lockstep(lockstep_bin, *verify_args(default_model, out))
    return result, out


def test_verify_passes(passing_verify):
    result, out = passing_verify
    assert result.returncode == 0, result.stderr
    assert "verify: case 1/2 'prompt-1' run 1/2" in result.stderr
    assert "verify: case 2/2 'prompt-2' process 1/1 ... ok" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "proof.json", "results.json"]
    assert json.loads((out / "proof.json").read_text())["schema"] == "lockstep.proof/1"


def test_verify_results_json(passing_verify, default_model):
    result, out = passing_verify
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == "lockstep.results/0"
    assert results["tool"]["name"] == "lockstep" and results["tool"]["version"]
    assert results["command"][1] == "verify"
    assert results["started_at"].endswith("Z") and "T" in results["started_at"]
    assert results["duration_s"] > 0
    env = results["environment"]
    for key in ("lockstep_version", "libtorch_version", "cuda_available", "cpu_model", "threads", "os", "compiler"):
        assert key in env, key
    assert env["threads"] >= 1
    assert results["model"]["path"] == str(default_model)
    assert results["model"]["file_sha256"] == hashlib.sha256(default_model.read_bytes()).hexdigest()
    assert results["verdict"] == "pass"
    assert results["counts"]["cases"] == 2
    assert results["counts"]["comparisons"] == 4 and results["counts"]["comparisons_failed"] == 0
    assert [c["prompt"] for c in results["cases"]] == PROMPTS
    for case in results["cases"]:
        assert 1 <= len(case["output_ids"]) <= 8
        assert len(case["step_logits_sha256"]) == len(case["output_ids"])
        assert case["ids_sha256"] == ids_sha256(case["output_ids"])
        assert case["prompt_ids"] and isinstance(case["text"], str)
        assert [(r["label"], r["kind"]) for r in case["runs"]] == [("run-2", "reload"), ("process-1", "process")]
        for run in case["runs"]:
            assert run["match"] is True and run["first_divergence"] is None and run["duration_s"] > 0


def test_verify_junit_has_no_failures(passing_verify):
    _, out = passing_verify
    suite, cases = read_junit(out / "junit.xml")
    assert suite.tests == 4 and suite.failures == 0 and suite.errors == 0
    assert [(c.classname, c.name) for c in cases] == [
        ("prompts.prompt-1", "run-2"), ("prompts.prompt-1", "process-1"),
        ("prompts.prompt-2", "run-2"), ("prompts.prompt-2", "process-1")]
    assert all(c.is_passed for c in cases)


def test_verify_json_flag_prints_results(lockstep_bin, default_model, tmp_path):
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--prompt", "Hi", "--runs", "1",
                      "--processes", "0", "--max-new-tokens", "2", "--json", "--results", tmp_path / "r.json",
                      "--junit", tmp_path / "j" / "junit.xml")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads((tmp_path / "r.json").read_text())
    assert (tmp_path / "j" / "junit.xml").exists()


@pytest.mark.parametrize("label", ["run-2", "process-1"])
def test_verify_detects_a_perturbed_logit(fault_bin, default_model, tmp_path, label):
    result = lockstep(fault_bin, *verify_args(default_model, tmp_path),
                      env={"LOCKSTEP_TEST_FAULT": f"perturb-logit:{label}"})
    assert result.returncode == 1, result.stderr
    assert "DIFFERS at step 0" in result.stderr

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["verdict"] == "fail"
    assert results["counts"]["comparisons_failed"] == 2
    for case in results["cases"]:
        runs = {r["label"]: r for r in case["runs"]}
        assert all(r["match"] == (name != label) for name, r in runs.items())
        divergence = runs[label]["first_divergence"]
        assert divergence["step"] == 0
        assert divergence["expected_sha256"] == case["step_logits_sha256"][0]
        assert divergence["actual_sha256"] != divergence["expected_sha256"]
        # One ULP on the largest logit keeps the argmax: same token, different bits.
        assert divergence["expected_token"] == divergence["actual_token"] == case["output_ids"][0]
        # ... and the report says so: both sides' candidates, the top one a single ULP apart.
        assert divergence["max_ulp"] == 1
        assert divergence["expected_top"][0]["id"] == divergence["actual_top"][0]["id"] == case["output_ids"][0]
        assert divergence["expected_top"][0]["logit"] != divergence["actual_top"][0]["logit"]
        assert [c["id"] for c in divergence["expected_top"]] == [c["id"] for c in divergence["actual_top"]]

    suite, cases = read_junit(tmp_path / "junit.xml")
    assert suite.tests == 4 and suite.failures == 2
    failed = [c for c in cases if not c.is_passed]
    assert sorted(c.classname for c in failed) == ["prompts.prompt-1", "prompts.prompt-2"]
    for case in failed:
        assert case.name == label
        [failure] = [r for r in case.result if isinstance(r, Failure)]
        assert case.classname.removeprefix("prompts.") in failure.message
        assert "step 0" in failure.message


def test_verify_reports_a_crashing_worker(fault_bin, default_model, tmp_path):
    result = lockstep(fault_bin, "verify", "--model", default_model, "--prompt", "Hi", "--runs", "1",
                      "--processes", "1", "--max-new-tokens", "2", "--out-dir", tmp_path,
                      env={"LOCKSTEP_TEST_FAULT": "abort:process-1"})
    assert result.returncode == 1, result.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    [run] = results["cases"][0]["runs"]
    assert run["label"] == "process-1" and run["match"] is False
    assert "signal 6" in run["error"] and "aborting on purpose" in run["error"]
    _, [case] = read_junit(tmp_path / "junit.xml")
    assert "aborting on purpose" in case.result[0].message


def test_verify_suite_file_and_override(lockstep_bin, default_model, tmp_path):
    suite = tmp_path / "s.json"
    suite.write_text(json.dumps({
        "schema": "lockstep.suite/0", "name": "tiny", "defaults": {"max_new_tokens": 50, "chat": True},
        "cases": [{"id": "greet", "prompt": "Hi"}, {"id": "raw", "prompt": "The sky is", "chat": False}]}))
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--suite", suite, "--runs", "1",
                      "--processes", "1", "--max-new-tokens", "3", "--out-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["suite"] == {"name": "tiny", "path": str(suite)}
    assert [c["id"] for c in results["cases"]] == ["greet", "raw"]
    assert all(c["max_new_tokens"] == 3 and len(c["output_ids"]) <= 3 for c in results["cases"])
    assert results["cases"][1]["chat"] is False


BAD_SUITES = {
    "invalid-json": "{",
    "unknown-schema": json.dumps({"schema": "lockstep.suite/9", "name": "x", "cases": [{"id": "a", "prompt": "p"}]}),
    "missing-prompt": json.dumps({"schema": "lockstep.suite/0", "name": "x", "cases": [{"id": "a"}]}),
    "duplicate-id": json.dumps({"schema": "lockstep.suite/0", "name": "x",
                                "cases": [{"id": "a", "prompt": "p"}, {"id": "a", "prompt": "q"}]}),
    "wrong-type": json.dumps({"schema": "lockstep.suite/0", "name": "x",
                              "cases": [{"id": "a", "prompt": "p", "max_new_tokens": "8"}]}),
    "unknown-key": json.dumps({"schema": "lockstep.suite/0", "name": "x", "cases": [{"id": "a", "prompt": "p",
                                                                                      "temp": 1}]}),
}


@pytest.mark.parametrize("kind", sorted(BAD_SUITES))
def test_verify_bad_suite_is_exit_2(lockstep_bin, default_model, tmp_path, kind):
    suite = tmp_path / "bad.json"
    suite.write_text(BAD_SUITES[kind])
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--suite", suite, "--out-dir", tmp_path)
    assert result.returncode == 2, result.stderr
    assert str(suite) in result.stderr
    assert not (tmp_path / "results.json").exists()


def test_verify_missing_suite_file_is_exit_2(lockstep_bin, default_model, tmp_path):
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--suite", tmp_path / "nope.json")
    assert result.returncode == 2


@pytest.mark.parametrize("args", [["--runs", "0"], ["--processes", "-1"], ["--bogus-flag"], [],
                                  ["--suite", "x.json", "--prompt", "Hi"]])
def test_verify_bad_flags_are_exit_2(lockstep_bin, default_model, tmp_path, args):
    if args and args[0] in ("--runs", "--processes"):
        args = args + ["--prompt", "Hi"]
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--out-dir", tmp_path, *args)
    assert result.returncode == 2, result.stderr


def test_missing_model_is_exit_3(lockstep_bin, tmp_path):
    missing = tmp_path / "missing.gguf"
    result = lockstep(lockstep_bin, "verify", "--model", missing, "--prompt", "Hi", "--out-dir", tmp_path)
    assert result.returncode == 3
    assert str(missing) in result.stderr and "ci/setup.sh" in result.stderr
    result = lockstep(lockstep_bin, "run", "--prompt", "Hi", env={"LOCKSTEP_MODEL": str(missing)})
    assert result.returncode == 3
    assert "LOCKSTEP_MODEL" in result.stderr


def test_malformed_model_file_is_exit_2(lockstep_bin, tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    result = lockstep(lockstep_bin, "run", "--model", bogus, "--prompt", "Hi")
    assert result.returncode == 2, result.stderr


def test_unwritable_out_dir_is_exit_3(lockstep_bin, default_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file")
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--prompt", "Hi", "--max-new-tokens", "2",
                      "--out-dir", blocker / "out")
    assert result.returncode == 3
    assert "not a directory" in result.stderr
    assert "verify: case" not in result.stderr   # it failed before generating anything


def test_release_binary_refuses_the_test_fault_variable(lockstep_bin, default_model, tmp_path):
    """Only the test build reads LOCKSTEP_TEST_FAULT: the release binary cannot perturb a run or write a
    perturbed golden with --update-golden."""
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--prompt", "Hi", "--out-dir", tmp_path,
                      "--golden", tmp_path / "g.proof.json", "--update-golden",
                      env={"LOCKSTEP_TEST_FAULT": "perturb-logit:run-1"})
    assert result.returncode == 2 and "has no test fault hook" in result.stderr, result.stderr
    assert not (tmp_path / "g.proof.json").exists()


def test_bad_fault_variable_is_exit_2(fault_bin, default_model, tmp_path):
    result = lockstep(fault_bin, "verify", "--model", default_model, "--prompt", "Hi", "--out-dir", tmp_path,
                      env={"LOCKSTEP_TEST_FAULT": "explode"})
    assert result.returncode == 2
    assert "LOCKSTEP_TEST_FAULT" in result.stderr


# ---- tokenize ------------------------------------------------------------

def test_tokenize_text_and_input(lockstep_bin, default_model, tmp_path):
    single = lockstep(lockstep_bin, "tokenize", "--model", default_model, "--text", "Hello world", "--json")
    assert single.returncode == 0, single.stderr
    ids = json.loads(single.stdout)
    assert ids and all(isinstance(i, int) for i in ids)

    texts = ["Hello world", "日本語 <|im_start|>", ""]
    (tmp_path / "in.json").write_text(json.dumps(texts))
    batch = lockstep(lockstep_bin, "tokenize", "--model", default_model, "--input", tmp_path / "in.json", "--json")
    assert batch.returncode == 0, batch.stderr
    lists = json.loads(batch.stdout)
    assert len(lists) == 3 and lists[0] == ids and lists[2] == []

    special = json.loads(lockstep(lockstep_bin, "tokenize", "--model", default_model, "--text", "<|im_start|>",
                                  "--json").stdout)
    plain = json.loads(lockstep(lockstep_bin, "tokenize", "--model", default_model, "--text", "<|im_start|>",
                                "--no-special", "--json").stdout)
    assert len(special) == 1 and len(plain) > 1

    text_mode = lockstep(lockstep_bin, "tokenize", "--model", default_model, "--text", "Hello world")
    assert text_mode.stdout.split() == [str(i) for i in ids]


def test_tokenize_bad_input_is_exit_2(lockstep_bin, default_model, tmp_path):
    (tmp_path / "in.json").write_text(json.dumps({"not": "an array"}))
    assert lockstep(lockstep_bin, "tokenize", "--model", default_model, "--input",
                    tmp_path / "in.json").returncode == 2
    assert lockstep(lockstep_bin, "tokenize", "--model", default_model).returncode == 2


# ---- help and version ----------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["verify", "--help"], ["tokenize", "--help"]])
def test_help_exits_0(lockstep_bin, args):
    result = lockstep(lockstep_bin, *args)
    assert result.returncode == 0
    assert "Usage" in result.stdout
    assert "--worker" not in result.stdout   # the worker mode stays hidden


def test_version(lockstep_bin):
    result = lockstep(lockstep_bin, "--version")
    assert result.returncode == 0
    assert result.stdout.startswith("lockstep ")


def test_no_subcommand_is_exit_2(lockstep_bin):
    assert lockstep(lockstep_bin).returncode == 2

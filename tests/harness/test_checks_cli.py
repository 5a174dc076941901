"""`lockstep stress` and `lockstep reload` end to end on the real model: many
concurrent requests through one model, and fresh loads of it, must all
reproduce the reference bits; an injected one-ULP change in one concurrent
worker must fail the run naming that worker.
"""
import json
import re

from junitparser import JUnitXml

from test_cli import lockstep

PROMPTS = ["Say hi.", "2+2="]


def check(binary, model, out_dir, command, *extra, env=None):
    args = [command, "--model", model, "--max-new-tokens", "3", "--out-dir", out_dir]
    for prompt in PROMPTS:
        args += ["--prompt", prompt]
    return lockstep(binary, *args, *extra, env=env)


def runs_of(out_dir):
    results = json.loads((out_dir / "results.json").read_text())
    return results, [run for case in results["cases"] for run in case["runs"]]


def test_stress_workers_all_match_the_reference(lockstep_bin, default_model, tmp_path):
    result = check(lockstep_bin, default_model, tmp_path, "stress", "--workers", "24", "--threads", "6")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stress: 24/24 requests done, 0 differ" in result.stderr and "peak RSS" in result.stderr
    results, runs = runs_of(tmp_path)
    assert results["verdict"] == "pass"
    assert len(runs) == 24 and {r["kind"] for r in runs} == {"thread"}
    # One shared engine: the requests were batched together, and results say in what batches.
    assert sum(n for size, n in results["batch_sizes"].items() if int(size) > 1) > 0, results["batch_sizes"]
    assert sum(results["batch_sizes"].values()) == sum(len(r["batch"]["sizes"]) for r in runs)
    assert sorted(int(r["label"].split("-")[1]) for r in runs) == list(range(1, 25))
    (suite,) = list(JUnitXml.fromfile(str(tmp_path / "junit.xml")))
    assert suite.tests == 24 and suite.failures == 0


def test_stress_catches_one_perturbed_concurrent_worker(fault_bin, default_model, tmp_path):
    result = check(fault_bin, default_model, tmp_path, "stress", "--workers", "12", "--threads", "4",
                   env={"LOCKSTEP_TEST_FAULT": "perturb-logit:worker-7"})
    assert result.returncode == 1, result.stderr[-2000:]
    # The first failure names the worker, the batch its divergent step ran in, and the step.
    assert re.search(r"case '[^']+' worker-7 in a batch of \d+ \(row \d+\): step 0", result.stderr), result.stderr[-2000:]
    _, runs = runs_of(tmp_path)
    failed = [r for r in runs if not r["match"]]
    assert [r["label"] for r in failed] == ["worker-7"]
    assert failed[0]["first_divergence"]["reason"] == "logits"


def test_reload_compares_every_fresh_load_and_process(lockstep_bin, default_model, tmp_path):
    result = check(lockstep_bin, default_model, tmp_path, "reload", "--reloads", "3", "--processes", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("re-loading model") == 3
    _, runs = runs_of(tmp_path)
    kinds = sorted(r["kind"] for r in runs)
    assert kinds == ["process"] * 2 + ["reload"] * 6


def test_reload_catches_a_change_after_a_reload(fault_bin, default_model, tmp_path):
    result = check(fault_bin, default_model, tmp_path, "reload", "--reloads", "2", "--processes", "0",
                   env={"LOCKSTEP_TEST_FAULT": "perturb-logit:run-3"})
    assert result.returncode == 1
    _, runs = runs_of(tmp_path)
    assert {r["label"] for r in runs if not r["match"]} == {"run-3"}


def test_bad_counts_are_usage_errors(lockstep_bin, default_model, tmp_path):
    assert check(lockstep_bin, default_model, tmp_path, "stress", "--workers", "0").returncode == 2
    assert check(lockstep_bin, default_model, tmp_path, "stress", "--threads", "0").returncode == 2
    assert check(lockstep_bin, default_model, tmp_path, "reload", "--reloads", "0").returncode == 2
    for command in ("stress", "reload"):
        helped = lockstep(lockstep_bin, command, "--help")
        assert helped.returncode == 0 and "Exit codes" in helped.stdout

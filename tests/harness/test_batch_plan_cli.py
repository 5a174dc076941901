"""verify through the batching engine: the ci-gate suite's batch plan co-batches every case (batches of
3 and 8 with seeded greedy and sampling fillers and a long prompt, joins mid-decode each way), and the
solo reference must be reproduced in every batch. With stock kernels (--mode off) the co-batched runs
differ and verify fails naming the case, the batch and the step (the negative control); a plan that
could not be carried out fails too, never passing silently as solo."""
import json
import pathlib

import pytest

from test_cli import lockstep, read_junit

ROOT = pathlib.Path(__file__).resolve().parents[2]
GATE = ROOT / "suites" / "ci-gate.json"
ROUNDS = ["batch-3", "batch-8", "join-a", "join-b"]


def gate(lockstep_bin, model, out, *extra):
    # 6 tokens a case keeps it quick; the shortest ci-gate answer has 8, so every case still decodes
    # when the join rounds' joiners arrive (after 3 steps).
    return lockstep(lockstep_bin, "verify", "--model", model, "--suite", GATE, "--runs", "1", "--processes", "0",
                    "--max-new-tokens", "6", "--out-dir", out, *extra)


def test_every_case_is_co_batched_as_planned_and_reproduces_its_solo_bits(lockstep_bin, default_model, tmp_path):
    result = gate(lockstep_bin, default_model, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["settings"]["batch_rounds"] == ROUNDS
    assert {"3", "8"} <= set(results["batch_sizes"])
    for case in results["cases"]:
        runs = {r["label"]: r for r in case["runs"]}
        assert list(runs) == ROUNDS
        assert all(r["match"] and r["kind"] == "batch" for r in runs.values())
        assert runs["batch-3"]["batch"]["sizes"][0] == 3 and runs["batch-8"]["batch"]["sizes"][0] == 8
        joins = [runs["join-a"]["batch"], runs["join-b"]["batch"]]
        assert any(b["joined_running"] for b in joins) and any(b["joined_by_others"] for b in joins)
        neighbours = [n for r in runs.values() for n in r["batch"]["neighbours"]]
        assert any(n["sampling"].startswith("temperature") for n in neighbours)
        assert any(n["prompt_tokens"] == 300 for n in neighbours)   # the plan's long prompt
        assert all(0 <= row < size for r in runs.values() for size, row in zip(r["batch"]["sizes"], r["batch"]["rows"]))


def test_with_stock_kernels_co_batched_runs_differ_and_verify_fails(cobatched_off):
    tmp_path, result = cobatched_off   # gate(..., "--mode", "off", "--localise", "1"), shared with the report tests
    assert result.returncode == 1, result.stderr[-3000:]
    assert "DIFFERS at step" in result.stderr and "in a batch of" in result.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    failed = [(c["id"], r) for c in results["cases"] for r in c["runs"] if not r["match"]]
    assert failed
    case_id, run = failed[0]
    step = run["first_divergence"]["step"]
    size = run["batch"]["sizes"][step]
    assert size > 1 and f"'{case_id}' {run['label']} ... DIFFERS at step {step} (logits) in a batch of {size}" in result.stderr
    _, cases = read_junit(tmp_path / "junit.xml", f"{results['suite']['name']} (mode off)")
    assert any(not c.is_passed for c in cases)
    # The first failing run was re-run solo and in its batch with activation digests: the report names
    # the first layer and op whose bits differ (stock kernels: a GEMM whose order follows the batch).
    where = run["first_divergent_activation"]
    assert where["found"] and where["op"] in {"q", "k", "v", "attention", "o_proj", "gate_up", "down", "logits"}, where
    assert where["what"].startswith("first divergent activation: ") and where["what"] in result.stderr
    [junit_case] = [c for c in cases if c.name == run["label"] and c.classname.endswith(case_id)]
    assert where["what"] in junit_case.result[0].message and where["what"] in junit_case.result[0].text


def test_a_plan_that_was_not_carried_out_fails(lockstep_bin, default_model, tmp_path):
    # The answer ends after 2 tokens: no request can join it mid-decode after 5 steps.
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--prompt", "Hi", "--max-new-tokens", "2",
                      "--runs", "1", "--processes", "0", "--join-after", "5", "--out-dir", tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "the batch plan was not carried out: no request joined it mid-decode" in result.stderr
    [case] = json.loads((tmp_path / "results.json").read_text())["cases"]
    assert case["runs"][-1]["label"] == "batch-plan" and case["runs"][-1]["match"] is False


@pytest.mark.parametrize("args, message", [
    (["--batch-sizes", "1"], "a co-batched size is at least 2"),
    (["--batch-sizes", "4,4"], "a size is repeated"),
])
def test_bad_batch_sizes_are_exit_2(lockstep_bin, default_model, tmp_path, args, message):
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--prompt", "Hi", "--runs", "1",
                      "--processes", "0", "--out-dir", tmp_path, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr

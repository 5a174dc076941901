"""The test-only fault injector (kernels/fault/fault.h) and the gate's power to see its faults.

Runs the lockstep_fault binary (built beside lockstep with -DLOCKSTEP_FAULT_INJECTION=ON, e.g. by
ci/detect.sh) on the synthetic tie model of ci/make_tie_model.py, which is small enough to run in
seconds. Skips when that binary is absent. The full table (every fault, SmolLM2 too) is
ci/detect.sh's, recorded in harness/DETECTION.md.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SUITE = ROOT / "suites" / "detect-tie.json"
GOLDEN = ROOT / "golden" / "detect-tie" / "cpu-x86_64.proof.json"
TIE_A, TIE_B = ord("x"), ord("y")


@pytest.fixture(scope="module")
def tie_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("tie") / "model"
    subprocess.run([sys.executable, str(ROOT / "ci" / "make_tie_model.py"), "--out", str(out)], check=True,
                   capture_output=True)
    return out


def verify(binary, model, out_dir, fault=None, golden=True, runs=2, processes=1):
    env = dict(os.environ)
    env.pop("LOCKSTEP_INJECT_FAULT", None)
    if fault is not None:
        env["LOCKSTEP_INJECT_FAULT"] = fault
    cmd = [str(binary), "verify", "--suite", str(SUITE), "--model", str(model), "--runs", str(runs),
           "--processes", str(processes), "--out-dir", str(out_dir)]
    if golden:
        cmd += ["--golden", str(GOLDEN)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    results = out_dir / "results.json"
    return proc, json.loads(results.read_text()) if results.exists() else None


def test_tie_model_ties_exactly(fault_bin, tie_model, tmp_path):
    proc, results = verify(fault_bin, tie_model, tmp_path, runs=1, processes=0)
    assert proc.returncode == 0, proc.stderr
    case = results["cases"][0]
    # Smallest id wins every step: all 'x', and the proof's top two logits are equal.
    assert set(case["output_ids"]) == {TIE_A}, case["output_ids"]
    proof = json.loads((tmp_path / "proof.json").read_text())
    tops = proof["cases"][0]["step_top_canonical"]
    for step in tops:
        assert [step[0][0], step[1][0]] == [TIE_A, TIE_B] and step[0][1] == step[1][1], step[:2]


def test_tie_break_fault_is_detected_at_tokens_level(fault_bin, tie_model, tmp_path):
    proc, results = verify(fault_bin, tie_model, tmp_path, fault="tie-break")
    assert proc.returncode == 1, proc.stderr
    assert "TEST-ONLY fault injection active: tie-break" in proc.stderr
    verdict = results["golden"]["cases"][0]
    assert not verdict["match"]
    d = verdict["first_divergence"]
    # The logits are the same bits; only the token differs, at the first step.
    assert (d["step"], d["reason"], d["expected_token"], d["actual_token"]) == (0, "token", TIE_A, TIE_B), d


def test_fault_scoped_to_run_2_is_caught_without_golden(fault_bin, tie_model, tmp_path):
    proc, results = verify(fault_bin, tie_model, tmp_path, fault="tie-break@run-2", golden=False)
    assert proc.returncode == 1, proc.stderr
    runs = {r["label"]: r for r in results["cases"][0]["runs"]}
    assert runs["run-2"]["match"] is False and runs["run-2"]["first_divergence"]["reason"] == "token"
    assert runs["process-1"]["match"] is True   # only run-2 had the fault
    # Re-run with activation digests: the model's bits are equal; the token choice broke the tie.
    where = runs["run-2"]["first_divergent_activation"]
    assert where["found"] is False and "arose after the model" in where["what"], where
    assert set(results["cases"][0]["output_ids"]) == {TIE_A}   # run-1, the reference, was clean


@pytest.mark.parametrize("fault,reason", [("splitk-gemm", "logits"), ("tokenizer-merge", "prompt")])
def test_other_faults_are_detected(fault_bin, tie_model, tmp_path, fault, reason):
    proc, results = verify(fault_bin, tie_model, tmp_path, fault=fault, runs=1, processes=0)
    assert proc.returncode == 1, proc.stderr
    assert results["golden"]["cases"][0]["first_divergence"]["reason"] == reason


@pytest.mark.parametrize("value,message", [
    ("bogus", "'bogus' is not a known fault"),
    ("splitk-gemm:3", "'splitk-gemm' takes no number"),
    ("logit-ulp:x", "takes a decimal number"),
    ("tie-break@", "empty run label"),
    ("tie-break@run 2", "a run label is letters, digits and '-'"),
])
def test_malformed_fault_exits_2(fault_bin, tie_model, tmp_path, value, message):
    proc, _ = verify(fault_bin, tie_model, tmp_path, fault=value)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "LOCKSTEP_INJECT_FAULT" in proc.stderr


def test_normal_binary_refuses_the_variable(lockstep_bin, tie_model, tmp_path):
    proc, _ = verify(lockstep_bin, tie_model, tmp_path, fault="splitk-gemm")
    assert proc.returncode == 2
    assert "has no fault injector" in proc.stderr


def test_detect_golden_is_the_gate_golden_cut():
    """suites/detect.json's golden is the ci-gate golden's first steps of the same cases: a fault
    that shows in the detection suite shows in the real gate too."""
    gate = json.loads((ROOT / "golden" / "smollm2-135m-instruct" / "cpu-x86_64.proof.json").read_text())
    detect = json.loads((ROOT / "golden" / "smollm2-135m-instruct" / "detect-cpu-x86_64.proof.json").read_text())
    suite = json.loads((ROOT / "suites" / "detect.json").read_text())
    gate_cases = {c["id"]: c for c in gate["cases"]}
    assert [c["id"] for c in detect["cases"]] == [c["id"] for c in suite["cases"]]
    for case in detect["cases"]:
        full = gate_cases[case["id"]]
        steps = len(case["output_ids"])
        assert steps == suite["defaults"]["max_new_tokens"] and len(full["output_ids"]) >= steps
        assert case["prompt"] == full["prompt"] and case["input_ids"] == full["input_ids"]
        assert case["output_ids"] == full["output_ids"][:steps]
        assert case["step_logits_sha256"] == full["step_logits_sha256"][:steps]


# The op each batch-dependent fault perturbs first (kernels/fault/): the q projection's GEMM (the fused
# qkv GEMM's first slice), the attention kernel's split order, the RMSNorm reduction of the next layer.
LOCALISED = {"splitk-gemm": "q", "attention-split": "attention", "reordered-reduction": "attn_norm"}


@pytest.mark.parametrize("fault", ["splitk-gemm", "attention-split", "reordered-reduction"])
def test_batch_dependent_faults_are_caught_by_co_batched_runs_alone(fault_bin, tie_model, tmp_path, fault):
    """No golden and no run label: the fault is on in every run, as a real batch-dependent kernel would
    be, and the suite's batch plan co-batches the case; a co-batched run differs from the solo one."""
    proc, results = verify(fault_bin, tie_model, tmp_path, fault=fault, golden=False, runs=1, processes=0)
    assert proc.returncode == 1, proc.stderr[-2000:]
    failed = [r for r in results["cases"][0]["runs"] if not r["match"]]
    assert failed and all(r["kind"] == "batch" and max(r["batch"]["sizes"]) > 1 for r in failed), failed
    # The first failing run was re-run solo and in its batch with activation digests: the first
    # divergent activation is the op the fault perturbs (a GEMM's output, attention, an RMSNorm's sum).
    where = failed[0]["first_divergent_activation"]
    assert where["found"] and where["op"] == LOCALISED[fault], where
    assert f"first divergent activation: layer {where['layer']}, op {where['op']}" in proc.stderr
    assert all("first_divergent_activation" not in r for r in failed[1:])   # one localisation per case
    # The negative control: the same fault, solo runs only, passes: nothing compares bits across batches.
    solo = tmp_path / "solo"
    env = dict(os.environ, LOCKSTEP_INJECT_FAULT=fault)
    quiet = subprocess.run([str(fault_bin), "verify", "--suite", str(SUITE), "--model", str(tie_model), "--runs", "2",
                            "--processes", "1", "--no-batch-plan", "--out-dir", str(solo)],
                           env=env, capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0, quiet.stderr[-2000:]

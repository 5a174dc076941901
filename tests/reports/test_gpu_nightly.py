"""ci/gpu-nightly.sh on this CPU-only machine: without a GPU it fails unless --allow-cpu, and then it
reports a CPU run, never a GPU pass; it needs a golden or the explicit golden-making mode, whose result
is a proof to commit, not a pass. And ci/proof-compare.sh, the nightly workflow's merge-and-compare step."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from report_testlib import ROOT, run_lockstep

SUITE = {"schema": "lockstep.suite/0", "name": "nightly-mini", "check": {"kind": "verify", "runs": 2, "processes": 0},
         "defaults": {"max_new_tokens": 3}, "cases": [{"id": "capital", "prompt": "What is the capital of France?"}]}


def script(name, *args, env=None):
    full_env = {k: v for k, v in os.environ.items() if k not in ("LOCKSTEP_TEST_FAULT", "GITHUB_STEP_SUMMARY")}
    full_env.update(env or {})
    return subprocess.run(["bash", str(ROOT / "ci" / name), *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=900)


@pytest.fixture(scope="module")
def nightly(lockstep_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("nightly")
    (base / "suite.json").write_text(json.dumps(SUITE))
    summary = base / "step-summary.md"
    env = {"LOCKSTEP_BIN": str(lockstep_bin), "GITHUB_STEP_SUMMARY": str(summary)}
    golden = base / "golden" / "cpu.proof.json"
    made = script("gpu-nightly.sh", "--suite", base / "suite.json", "--out-dir", base / "made", "--label", "testbox",
                  "--make-golden", golden, "--allow-cpu", env=env)
    assert made.returncode == 0 and golden.is_file(), made.stderr[-3000:]
    assert "GOLDEN MADE (CPU run, testbox)" in made.stderr and "NOT a pass" in made.stderr
    assert "golden made, not a pass" in summary.read_text()
    result = script("gpu-nightly.sh", "--suite", base / "suite.json", "--out-dir", base / "out", "--label", "testbox",
                    "--sweep-lengths", "1,3", "--sweep-batches", "1,2", "--compare-runs", "4", "--compare-max-batch", "4",
                    "--golden", golden, "--allow-cpu", env=env)
    return base, result, summary


def test_without_a_gpu_the_nightly_fails_or_says_it_ran_on_the_cpu(nightly, lockstep_bin, tmp_path):
    base, result, summary = nightly
    assert result.returncode == 0, result.stderr[-3000:]
    assert "CPU RUN" in result.stderr and "not a GPU pass" in result.stderr
    proof = base / "out" / "proofs" / "testbox-cpu.proof.json"
    run_lockstep(lockstep_bin, "proof", "verify", proof, check_rc=0)
    assert json.loads((base / "out" / "cpu" / "results.json").read_text())["golden"]["verdict"] == "pass"
    env = {"LOCKSTEP_BIN": str(lockstep_bin)}
    no_gpu = script("gpu-nightly.sh", "--suite", base / "suite.json", "--out-dir", tmp_path / "a",
                    "--golden", base / "golden" / "cpu.proof.json", env=env)
    assert no_gpu.returncode == 3 and "no GPU on this host" in no_gpu.stderr, no_gpu.stderr
    no_golden = script("gpu-nightly.sh", "--suite", base / "suite.json", "--out-dir", tmp_path / "b", "--allow-cpu",
                       env=env)
    assert no_golden.returncode == 2 and "needs --golden FILE" in no_golden.stderr, no_golden.stderr
    for name in ("report.html", "report-junit.xml", "summary.md"):
        assert (base / "out" / name).stat().st_size > 0
    html = (base / "out" / "report.html").read_text()
    assert 'id="sweep"' in html and 'class="cell' in html and 'class="bar"' in html
    assert "lockstep nightly: testbox (CPU run)" in summary.read_text()


def test_proof_compare_merges_and_fails_only_within_a_label(nightly, lockstep_bin, tmp_path):
    base, _, _ = nightly
    proof = base / "out" / "proofs" / "testbox-cpu.proof.json"
    # Another GPU type's proof of the same suite: one step's logits digest differs (resealed).
    doc = json.loads(proof.read_text())
    sha = doc["cases"][0]["step_logits_sha256"][0]
    doc["cases"][0]["step_logits_sha256"][0] = ("0" if sha[0] != "0" else "1") + sha[1:]
    rest = {k: v for k, v in doc.items() if k not in ("digest", "signature")}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    doc["digest"]["value"] = hashlib.sha256(canonical.encode()).hexdigest()
    other = tmp_path / "other.proof.json"
    other.write_text(json.dumps(doc, indent=2))
    merged = tmp_path / "artifacts"
    for artifact, name, source in (("nightly-h100", "h100-gpu0", proof), ("nightly-h100", "h100-gpu1", proof),
                                   ("nightly-a100", "a100-gpu0", other)):
        (merged / artifact).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, merged / artifact / f"{name}.proof.json")
    result = script("proof-compare.sh", merged, lockstep_bin)
    assert result.returncode == 0, result.stdout + result.stderr
    # Sorted, the A100's proof is the reference of the cross-hardware columns.
    assert "| a100-gpu0.proof.json | a100 | yes | yes | equal | equal |" in result.stdout
    assert "| h100-gpu1.proof.json | h100 | yes | yes | differs | equal |" in result.stdout
    assert "3 proofs, 1 cases: 0 identical in every bit, 1 in tokens" in result.stdout
    run_lockstep(lockstep_bin, "proof", "verify", merged / "merged" / "proofset.json", check_rc=0)
    assert sorted(p.name for p in (merged / "merged").glob("*.proof.json")) == [
        "a100-gpu0.proof.json", "h100-gpu0.proof.json", "h100-gpu1.proof.json"]
    shutil.copy(other, merged / "nightly-h100" / "h100-gpu2.proof.json")   # one H100 disagrees
    result = script("proof-compare.sh", merged, lockstep_bin)
    assert result.returncode == 1 and "h100-gpu2.proof.json differs" in result.stderr

"""Fixtures for the report tests: real results.json / compare.json files written by the built CLI on
the real model (short prompts, few tokens), once per session."""
import json

import pytest

from report_testlib import prompt_args, run_lockstep


@pytest.fixture(scope="session")
def artifacts(lockstep_bin, fault_bin, tmp_path_factory):
    """Paths of real outputs: verify pass / fail (both against a golden proof) / crashed worker, a
    sweep with stock kernels (drifts) and with lockstep's, a compare, a tiered bench, and an
    update-golden run."""
    base = tmp_path_factory.mktemp("lockstep-out")
    golden = base / "golden.proof.json"
    run_lockstep(lockstep_bin, "proof", "export", *prompt_args(), "--out", golden, "--out-dir", base / "export",
                 check_rc=0)
    verify = ["verify", *prompt_args(), "--runs", "2", "--processes", "1"]
    run_lockstep(lockstep_bin, *verify, "--golden", golden, "--out-dir", base / "pass", check_rc=0)
    # run-1 is the reference: perturbing it makes every other run and the golden comparison differ.
    run_lockstep(fault_bin, *verify, "--golden", golden, "--out-dir", base / "fail",
                 env={"LOCKSTEP_TEST_FAULT": "perturb-logit:run-1"}, check_rc=1)
    run_lockstep(fault_bin, *verify, "--out-dir", base / "crash", env={"LOCKSTEP_TEST_FAULT": "abort:process-1"},
                 check_rc=1)
    run_lockstep(lockstep_bin, *verify, "--golden", base / "written.proof.json", "--update-golden",
                 "--out-dir", base / "written", check_rc=0)
    run_lockstep(lockstep_bin, "sweep", "--lengths", "1,6", "--batches", "1,2,5", "--mode", "off",
                 "--out-dir", base / "sweep-off")
    run_lockstep(lockstep_bin, "sweep", "--lengths", "1,6", "--batches", "1,2,5", "--out-dir", base / "sweep",
                 check_rc=0)
    run_lockstep(lockstep_bin, "compare", "--runs", "8", "--max-batch", "6", "--out-dir", base / "compare",
                 check_rc=0)
    suite = base / "tiers-mini.json"
    suite.write_text("""{"schema": "lockstep.suite/0", "name": "tiers-mini",
      "check": {"kind": "bench", "runs": 2, "processes": 0}, "defaults": {"max_new_tokens": 3},
      "cases": [{"id": "sanity-capital", "tier": 1, "prompt": "What is the capital of France?"},
                {"id": "edge-empty", "tier": 8, "prompt": ""}]}""")
    run_lockstep(lockstep_bin, "bench", "--suite", suite, "--out-dir", base / "bench", check_rc=0)
    paths = {name: base / name / "results.json"
             for name in ("pass", "fail", "crash", "written", "sweep-off", "sweep", "bench")}
    paths["compare"] = base / "compare" / "compare.json"
    paths["golden"] = golden
    for path in paths.values():
        assert path.exists(), path
    return paths


@pytest.fixture(scope="session")
def cobatched(cobatched_off):
    """results.json of the ci-gate suite's batch plan (rounds batch-3, batch-8, join-a, join-b: each case
    with seeded filler requests and the other cases, joining and joined mid-decode) run with stock
    kernels (--mode off): its co-batched runs differ from each case's solo reference, and every run
    carries the `batch` it decoded in; the first failing case's first failing run is localised (re-run
    with activation digests: stock kernels first differ in the output projection's GEMM)."""
    out, proc = cobatched_off
    assert proc.returncode == 1, proc.stderr[-3000:]
    path = out / "results.json"
    doc = json.loads(path.read_text())
    assert doc["verdict"] == "fail" and doc["settings"]["batch_rounds"] and doc["batch_sizes"], doc.get("settings")
    assert any(not run["match"] and run.get("batch", {}).get("neighbours")
               for case in doc["cases"] for run in case["runs"])
    return path

"""action.yml run locally with a simulated runner (action_runner.py) on the real CLI and model: the
outputs, the job summary, the reports and the exit code for a passing, a failing and a bad run."""
import json
import os
import platform
import subprocess
import sys

import pytest
import xmlschema

from action_runner import run_action
from report_testlib import ROOT, run_lockstep

sys.path.insert(0, str(ROOT / "tests" / "harness"))
from serve_client import Server  # noqa: E402

SUITE = {"schema": "lockstep.suite/0", "name": "action-mini", "check": {"kind": "verify", "runs": 2, "processes": 1},
         "defaults": {"max_new_tokens": 3},
         "cases": [{"id": "capital", "prompt": "What is the capital of France?"}, {"id": "color", "prompt": "Name a color."}]}


@pytest.fixture(scope="module")
def workspace(lockstep_bin, tmp_path_factory):
    """A caller's checkout: a suite and a golden directory holding this machine's CPU proof."""
    root = tmp_path_factory.mktemp("workspace")
    (root / "suites").mkdir()
    (root / "suites" / "mini.json").write_text(json.dumps(SUITE))
    run_lockstep(lockstep_bin, "proof", "export", "--suite", root / "suites" / "mini.json",
                 "--out", root / "golden" / f"cpu-{platform.machine()}.proof.json", "--out-dir", root / "export",
                 check_rc=0)
    return root


def action(lockstep_bin, workspace, tmp_path, env=None, **inputs):
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    given = {"suite": "suites/mini.json", "golden": "golden", "lockstep": str(lockstep_bin.resolve()), **inputs}
    return run_action({k.replace("_", "-"): v for k, v in given.items()}, workspace, temp, env)


def test_a_passing_suite_sets_every_output(lockstep_bin, workspace, tmp_path):
    run = action(lockstep_bin, workspace, tmp_path)
    assert run.returncode == 0, run.log[-3000:]
    results = json.loads(open(run.outputs["results-json"]).read())
    counts = results["counts"]
    assert run.outputs["verdict"] == results["verdict"] == "pass"
    assert run.outputs["cases"] == str(counts["cases"]) == "2"
    assert run.outputs["comparisons"] == str(counts["comparisons"]) == "4"
    assert run.outputs["comparisons-failed"] == run.outputs["cases-failed"] == "0"
    assert run.outputs["golden-verdict"] == "pass" and run.outputs["exit-code"] == "0"
    assert run.outputs["golden-file"] == str(workspace / "golden" / f"cpu-{platform.machine()}.proof.json")
    assert run.outputs["report-dir"] == str(tmp_path / "runner-temp" / "lockstep")
    for key in ("junit-xml", "html-report", "summary-markdown"):
        assert open(run.outputs[key]).read(), key
    xmlschema.validate(run.outputs["junit-xml"], str(ROOT / "reports" / "schema" / "junit.xsd"))
    assert "✅ lockstep: mini: PASS" in run.summary and run.outputs["html-report"] in run.summary
    assert "Tie canary (greedy tie-break): pass" in run.summary


def test_the_action_verifies_a_server_started_by_an_earlier_step(lockstep_bin, workspace, tmp_path):
    """input endpoint: the suite against `lockstep serve` (as a job would start it in an earlier step),
    every run with concurrent fillers, level bits, and the workspace's in-process golden reproduced."""
    server = Server([lockstep_bin, "serve", "--port", "0"])
    try:
        run = action(lockstep_bin, workspace, tmp_path, endpoint=server.url, tie_canary="false")
    finally:
        assert server.stop()[0] == 0
    assert run.returncode == 0, run.log[-3000:]
    assert run.outputs["verdict"] == "pass" and run.outputs["golden-verdict"] == "pass"
    assert "comparing at level bits" in run.log and "with 8 concurrent fillers" in run.log
    results = json.loads(open(run.outputs["results-json"]).read())
    assert results["environment"]["server"].startswith(server.url)
    (tmp_path / "bad").mkdir()
    bad = action(lockstep_bin, workspace, tmp_path / "bad", endpoint="localhost:1")
    assert bad.returncode == 2 and "input endpoint must be a URL" in bad.log


def test_the_action_runs_the_gates_tie_canary(fault_bin, workspace, tmp_path):
    """One gate: the action runs ci/gate.sh's tie canary, so a changed greedy tie-break (invisible to
    the suite's real prompts) fails the job here too."""
    run = action(fault_bin, workspace, tmp_path, env={"LOCKSTEP_INJECT_FAULT": "tie-break"})
    assert run.returncode == 1, run.log[-3000:]
    assert run.outputs["exit-code"] == "1" and run.outputs["verdict"] == "pass"   # the suite itself passed
    assert "Tie canary (greedy tie-break): FAIL" in run.summary
    assert "::error title=lockstep tie canary::" in run.log
    (tmp_path / "skip").mkdir()
    skipped = action(fault_bin, workspace, tmp_path / "skip", env={"LOCKSTEP_INJECT_FAULT": "tie-break"},
                     tie_canary="false")
    assert skipped.returncode == 0 and "Tie canary (greedy tie-break): skipped" in skipped.summary


def test_a_determinism_failure_fails_the_job_and_names_the_divergence(fault_bin, workspace, tmp_path):
    run = action(fault_bin, workspace, tmp_path, env={"LOCKSTEP_TEST_FAULT": "perturb-logit:run-2"})
    assert run.returncode == 1, run.log[-3000:]
    results = json.loads(open(run.outputs["results-json"]).read())
    assert run.outputs["verdict"] == "fail" and run.outputs["exit-code"] == "1"
    assert run.outputs["comparisons-failed"] == str(results["counts"]["comparisons_failed"]) == "2"
    assert run.outputs["golden-verdict"] == "pass"   # the reference run still matches the golden file
    assert "❌ lockstep: mini: FAIL" in run.summary
    # run-2 (on a reloaded model) decodes both cases through the engine at once: the message names the batch
    (run_2,) = [r for c in results["cases"] if c["id"] == "capital" for r in c["runs"] if r["label"] == "run-2"]
    assert f"case 'capital' run-2 differs from run-1 in a batch of 2 (row {run_2['batch']['rows'][0]}) at step 0" \
        in run.summary
    assert "::error title=lockstep determinism failure::" in run.log


def test_fail_on_divergence_false_reports_but_passes_the_step(fault_bin, workspace, tmp_path):
    run = action(fault_bin, workspace, tmp_path, env={"LOCKSTEP_TEST_FAULT": "perturb-logit:run-2"},
                 fail_on_divergence="false")
    assert run.returncode == 0, run.log[-3000:]
    assert run.outputs["verdict"] == "fail" and run.outputs["exit-code"] == "1"
    assert "::warning title=lockstep::" in run.log


def test_update_golden_writes_the_missing_proof(lockstep_bin, workspace, tmp_path):
    golden = tmp_path / "new-golden"
    run = action(lockstep_bin, workspace, tmp_path, golden=str(golden), update_golden="true")
    assert run.returncode == 0, run.log[-3000:]
    assert run.outputs["golden-verdict"] == "written"
    written = golden / f"cpu-{platform.machine()}.proof.json"
    assert run.outputs["golden-file"] == str(written)
    assert json.loads(written.read_text())["schema"] == "lockstep.proof/1"


@pytest.mark.parametrize("inputs, message", [
    ({"golden": "no-such-dir"}, "no golden proof at"),
    ({"mode": "fast"}, "input mode must be off, batch_invariant or portable"),
    ({"suite": "suites/missing.json"}, "input suite: no suite file"),
    ({"update_golden": "maybe"}, "input update-golden must be true or false"),
    ({"dtype": "fp64"}, "input dtype must be auto, fp32, bf16 or fp16"),
])
def test_bad_inputs_are_errors_before_any_run(lockstep_bin, workspace, tmp_path, inputs, message):
    run = action(lockstep_bin, workspace, tmp_path, **inputs)
    assert run.returncode == 2, run.log[-3000:]
    assert run.outputs["verdict"] == "error" and run.outputs["exit-code"] == "2"
    assert message in run.log and "ERROR" in run.summary


def temp_dir(path):
    path.mkdir()
    return path


def cache_keys(tmp_path):
    """The keys step of action.yml (ci/action-cache-keys.sh) run alone."""
    out = tmp_path / "keys-output"
    out.write_text("")
    subprocess.run(["bash", str(ROOT / "ci" / "action-cache-keys.sh")], env={**os.environ, "GITHUB_OUTPUT": str(out)},
                   check=True, capture_output=True)
    return dict(line.split("=", 1) for line in out.read_text().splitlines())


def test_cache_keys_name_the_image_and_hash_what_they_cache(tmp_path):
    keys = cache_keys(tmp_path)
    assert keys["venv"].startswith("lockstep-venv-") and keys["build"].startswith("lockstep-build-")
    assert keys["venv"].split("-", 2)[2] != keys["build"].split("-", 2)[2]
    assert cache_keys(tmp_path) == keys   # stable


def test_a_warm_job_runs_the_cached_binary_without_installing_or_building(workspace, tmp_path):
    """cache (default true): both keys found (a warm job) -> the set-up checks the venv's stamp and the
    restored binary's libraries, installs nothing and builds nothing; the gate runs as usual."""
    keys = cache_keys(tmp_path)
    run = run_action({"suite": "suites/mini.json", "golden": "golden", "lockstep": ""}, workspace,
                     temp_dir(tmp_path / "warm"),
                     cache_hits={keys["venv"], keys["build"]})
    assert run.returncode == 0, run.log[-3000:]
    assert f"cache venv-cache: key {keys['venv']}: hit" in run.log and f"key {keys['build']}: hit" in run.log
    assert "cached binary; ci/setup.sh, run time only" in run.log and "Python packages up to date" in run.log
    assert "[build]" not in run.log and "installing Debian packages" not in run.log
    assert run.outputs["verdict"] == "pass" and run.outputs["golden-verdict"] == "pass"


def test_a_build_cache_miss_builds(workspace, tmp_path):
    """The sources changed (no build key in the cache): ci/build.sh runs (here an up-to-date build dir,
    so it returns at once; on a runner it is the cold build of README's job times)."""
    keys = cache_keys(tmp_path)
    run = run_action({"suite": "suites/mini.json", "golden": "golden", "lockstep": ""}, workspace,
                     temp_dir(tmp_path / "miss"),
                     cache_hits={keys["venv"]})
    assert run.returncode == 0, run.log[-3000:]
    assert f"key {keys['build']}: miss" in run.log and "[build] building" in run.log
    assert run.outputs["verdict"] == "pass"

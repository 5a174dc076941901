"""action.yml and ci/workflows/ are clean under actionlint, checked as they are meant to be used:
copied into a repository's .github/workflows/ beside the action (so `uses: ./` resolves and
actionlint checks the action's metadata and the inputs each workflow passes)."""
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from report_testlib import ROOT

ACTIONLINT = shutil.which("actionlint", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("actionlint")


@pytest.fixture()
def repository(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    shutil.copy(ROOT / "ci" / "actionlint.yaml", tmp_path / ".github" / "actionlint.yaml")
    for workflow in (ROOT / "ci" / "workflows").glob("*.yml"):
        shutil.copy(workflow, workflows / workflow.name)
    return tmp_path


def actionlint(repository):
    assert ACTIONLINT, "actionlint is not installed: run ci/setup.sh (ci/requirements.txt pins it)"
    return subprocess.run([ACTIONLINT, "-oneline", "-no-color", "-shellcheck=", "-pyflakes="], cwd=repository,
                          capture_output=True, text=True, timeout=120)


def test_actionlint_reports_nothing(repository):
    assert len(list((repository / ".github" / "workflows").glob("*.yml"))) == 2
    result = actionlint(repository)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_actionlint_would_catch_a_wrong_input(repository):
    gate = repository / ".github" / "workflows" / "pr-gate.yml"
    gate.write_text(gate.read_text().replace("device: cpu", "device: cpu\n          devise: cuda"))
    result = actionlint(repository)
    assert result.returncode == 1 and 'input "devise" is not defined' in result.stdout


def test_the_action_maps_every_input_to_the_run_step():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    env = action["runs"]["steps"][-1]["env"]
    for name in action["inputs"]:
        if name not in ("lockstep", "cache"):   # the set-up steps read these two
            assert env[f"INPUT_{name.upper().replace('-', '_')}"] == f"${{{{ inputs.{name} }}}}"
    assert {"suite", "model", "golden", "mode", "device", "update-golden"} <= set(action["inputs"])
    assert action["inputs"]["update-golden"]["default"] == "false"

"""`lockstep report`: the CLI runs the Python renderer and keeps the CLI's exit codes (0 written,
2 bad input, 3 Python or Jinja2 missing)."""
import json
import subprocess
import sys

import pytest
from junitparser import JUnitXml

from report_testlib import ROOT, run_lockstep
from reports.load import load


def test_help_names_the_exit_codes(lockstep_bin):
    result = run_lockstep(lockstep_bin, "report", "--help", check_rc=0)
    assert "--results" in result.stdout and "--compare" in result.stdout
    assert "3 environment problem (Python or Jinja2 missing" in result.stdout


def test_report_writes_junit_html_and_markdown(lockstep_bin, artifacts, tmp_path):
    result = run_lockstep(lockstep_bin, "report", artifacts["fail"], "--results", artifacts["sweep"],
                          "--compare", artifacts["compare"], "--out-dir", tmp_path / "out",
                          "--html", tmp_path / "elsewhere" / "r.html", check_rc=0)
    assert "report: verdict fail" in result.stdout
    assert (tmp_path / "elsewhere" / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert len(list(JUnitXml.fromfile(str(tmp_path / "out" / "report-junit.xml")))) == 3
    assert "FAIL" in (tmp_path / "out" / "summary.md").read_text()


def test_a_failing_verdict_is_not_an_error_of_report(lockstep_bin, artifacts, tmp_path):
    assert json.loads(artifacts["fail"].read_text())["verdict"] == "fail"
    run_lockstep(lockstep_bin, "report", artifacts["fail"], "--out-dir", tmp_path, check_rc=0)


@pytest.mark.parametrize("make_args, message", [
    (lambda a, t: [], "give at least one results.json"),
    (lambda a, t: [t / "missing.json"], "missing.json: no such file"),
    (lambda a, t: [a["golden"]], "schema is 'lockstep.proof/1'"),
    (lambda a, t: ["--no-such-flag", a["pass"]], ""),
])
def test_bad_input_is_exit_2(lockstep_bin, artifacts, tmp_path, make_args, message):
    result = run_lockstep(lockstep_bin, "report", *make_args(artifacts, tmp_path), "--out-dir", tmp_path, check_rc=2)
    assert message in result.stderr


def test_missing_python_is_exit_3(lockstep_bin, artifacts, tmp_path):
    result = run_lockstep(lockstep_bin, "report", artifacts["pass"], "--out-dir", tmp_path,
                          env={"LOCKSTEP_PYTHON": str(tmp_path / "no-python")}, check_rc=3)
    assert "no Python at" in result.stderr and "LOCKSTEP_PYTHON" in result.stderr


def test_python_without_jinja2_is_exit_3(lockstep_bin, artifacts, tmp_path):
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    result = run_lockstep(lockstep_bin, "report", artifacts["pass"], "--out-dir", tmp_path / "out",
                          env={"LOCKSTEP_PYTHON": str(bare / "bin" / "python")}, check_rc=3)
    assert "Jinja2 is not installed" in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_unwritable_output_is_exit_3(lockstep_bin, artifacts, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_lockstep(lockstep_bin, "report", artifacts["pass"], "--out-dir", blocker / "sub", check_rc=3)
    assert "cannot write the reports" in result.stderr


def test_the_readme_example_says_its_mode_off_sweep_fails_by_design(artifacts):
    """README's report example feeds a --mode off sweep: a real one fails, so the page must say that its
    FAIL is the intended outcome (the negative control), not leave the reader guessing."""
    assert load([artifacts["sweep-off"]]).verdict == "fail"
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Reports")
    section = readme[start:readme.index("\n## ", start + 1)]
    assert "lockstep sweep" in section and "--mode off" in section and "lockstep report" in section
    assert "fails (exit 1) by design" in section and "verdict FAIL" in section
    assert "intended outcome" in section and "negative control" in section

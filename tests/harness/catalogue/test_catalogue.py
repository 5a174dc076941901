"""The bad-input catalogue (harness/BAD_INPUT.md): every case runs the real `lockstep` on inputs broken
in one way and checks the exact exit code, the message on stderr, that nothing crashed, and that
nothing on disk was lost or half-written (a snapshot of the workspace, and of the tmpfs where one is
mounted, before and after: hashes, sizes, mtimes, modes, listing; no temporary file left).

    LOCKSTEP_BIN=build/harness/lockstep .venv/bin/python -m pytest tests/harness/catalogue -q
"""
import json
import os
import re
import shutil
import subprocess
import sys
import xml.dom.minidom

import pytest

import cases_gguf
import cases_hf
import cases_options
import cases_output
import cases_proofs
import cases_suites
from bad_case import Workspace, run_args
from cases_suites import good_suite
from disk_check import assert_clean_failure, describe_change, run, snapshot, temp_files

CASES = (cases_gguf.CASES + cases_hf.CASES + cases_suites.CASES + cases_proofs.CASES + cases_options.CASES
         + cases_output.CASES)
BY_ID = {c.id: c for c in CASES}
HERE = os.path.dirname(os.path.abspath(__file__))


def test_catalogue_is_complete():
    assert len(BY_ID) == len(CASES), "case ids must be unique"
    assert len(CASES) >= 36
    assert {c.code for c in CASES} == {1, 2, 3}


def test_pristine_inputs_work(lockstep_bin, originals, tmp_path):
    """The control: unbroken copies of every input succeed, so each case fails for its one change."""
    ws = Workspace(tmp_path, originals)
    for args in (run_args(ws.gguf(originals["gguf"].data)), run_args(ws.hf_model()),
                 ["verify", "--model", ws.hf_model("m2"), "--suite", ws.write("suite.json", json.dumps(good_suite())),
                  "--runs", "1", "--processes", "0", "--out-dir", ws.path("out")],
                 ["proof", "verify", ws.golden()]):
        result = run(lockstep_bin, args, cwd=tmp_path)
        assert result.returncode == 0, f"{args}: {result.stderr[-2000:]}"


def check_outputs(root, outputs):
    for rel in outputs:
        path = root / rel
        assert path.is_file(), f"{rel} was not written"
        if rel.endswith(".json"):
            json.loads(path.read_text())
        elif rel.endswith(".xml"):
            xml.dom.minidom.parse(str(path))


def run_in_tmpfs(binary, args, ws, mount, env):
    """The command with a tmpfs on ws/mnt (mounted.py), as root or in a user namespace."""
    spec = {"mount": str(ws.path("mnt")), "size": mount["size"], "stage": str(ws.path("stage")),
            "fill_leave": mount.get("fill_leave"), "readonly": mount.get("readonly", False),
            "argv": [os.path.abspath(binary), *map(str, args)], "cwd": str(ws.root), "env": env}
    spec_file = ws.root.parent / f"{ws.root.name}.mount.json"
    spec_file.write_text(json.dumps(spec))
    if not shutil.which("unshare"):
        pytest.skip("no unshare(1): cannot mount a private tmpfs")
    tried = []
    for how in (["unshare", "-m"], ["unshare", "-rm"]):
        done = subprocess.run([*how, sys.executable, os.path.join(HERE, "mounted.py"), str(spec_file)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            return json.loads(done.stdout)
        # 77: the mount was refused; unshare's own failure: no namespace. Anything else is a real error.
        assert done.returncode == 77 or done.stderr.startswith("unshare:"), done.stderr[-3000:]
        tried.append(f"{' '.join(how)}: exit {done.returncode} {done.stderr.strip()[-200:]}")
    pytest.skip("cannot mount a tmpfs here (" + "; ".join(tried) + ")")


@pytest.mark.parametrize("case_id", sorted(BY_ID))
def test_bad_input(lockstep_bin, originals, tmp_path, case_id, request):
    case = BY_ID[case_id]
    if "LOCKSTEP_TEST_FAULT" in (case.env or {}):   # only the test build reads it
        lockstep_bin = request.getfixturevalue("fault_bin")
    if case.skip and case.skip():
        pytest.skip(case.skip())
    ws = Workspace(tmp_path / "ws", originals)
    args = case.setup(ws)
    before = snapshot(ws.root)
    env = {k: v for k, v in os.environ.items() if k not in ("LOCKSTEP_TEST_FAULT", "LOCKSTEP_MODEL")}
    env.update(case.env or {})
    if case.mount:
        done = run_in_tmpfs(lockstep_bin, args, ws, case.mount, env)
        result = subprocess.CompletedProcess(args, done["returncode"], done["stdout"], done["stderr"])
        assert done["after"] == done["before"], \
            f"the tmpfs changed: {describe_change(done['before'], done['after'])}\n{result.stderr[-2000:]}"
        if case.mount.get("fill_leave") is not None:
            assert done["free_before"] <= case.mount["fill_leave"], "the tmpfs was not full"
            for rel in case.outputs:   # the same proof, written where there was room: larger than the space left
                assert (ws.root / rel).stat().st_size > case.mount["fill_leave"] > 0
    else:
        result = run(lockstep_bin, args, cwd=ws.root, env=case.env)
    assert_clean_failure(result, case.code, case.message)
    if case.forbidden:
        assert not re.search(case.forbidden, result.stderr), f"/{case.forbidden}/ on stderr:\n{result.stderr[-2000:]}"

    after = snapshot(ws.root)
    check_outputs(ws.root, case.outputs)
    for rel in case.outputs:
        after.pop(rel, None)
    for rel in {os.path.dirname(r) for r in case.outputs} - {""}:
        if rel not in before:
            after.pop(rel, None)
    assert after == before, f"the workspace changed: {describe_change(before, after)}\n{result.stderr[-2000:]}"
    assert temp_files(ws.root) == []
    record(case, args, ws, result)


def record(case, args, ws, result):
    """With $LOCKSTEP_CATALOGUE_RECORD set, appends the case's command and message there (render_table.py)."""
    path = os.environ.get("LOCKSTEP_CATALOGUE_RECORD")
    if not path:
        return
    short = lambda text: str(text).replace(str(ws.root) + "/", "").replace(str(ws.root), ".")  # noqa: E731
    errors = [line for line in result.stderr.splitlines() if re.search(case.message.split(r"\n")[-1], line)]
    with open(path, "a") as f:
        f.write(json.dumps({"id": case.id, "command": " ".join(short(a) for a in args),
                            "message": short(errors[0] if errors else result.stderr.strip().splitlines()[-1])}) + "\n")

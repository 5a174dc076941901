"""`lockstep suite FILE`: the suite's own "check" decides how it runs."""
import json

from test_cli import lockstep


def write_suite(path, check=None):
    suite = {"schema": "lockstep.suite/0", "name": "s", "defaults": {"max_new_tokens": 2},
             "cases": [{"id": "a", "prompt": "Hi"}, {"id": "b", "prompt": "2+2=", "chat": False}]}
    if check is not None:
        suite["check"] = check
    path.write_text(json.dumps(suite))
    return path


def kinds(out_dir):
    results = json.loads((out_dir / "results.json").read_text())
    return sorted({run["kind"] for case in results["cases"] for run in case["runs"]})


def test_suite_runs_the_check_it_names(lockstep_bin, default_model, tmp_path):
    stress = write_suite(tmp_path / "stress.json", {"kind": "stress", "workers": 6, "threads": 3})
    result = lockstep(lockstep_bin, "suite", "--model", default_model, "--suite", stress, "--out-dir", tmp_path / "s")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "suite: s: stress" in result.stderr and kinds(tmp_path / "s") == ["thread"]

    reload = write_suite(tmp_path / "reload.json", {"kind": "reload", "reloads": 2, "processes": 0})
    assert lockstep(lockstep_bin, "suite", "--model", default_model, "--suite", reload,
                    "--out-dir", tmp_path / "r").returncode == 0
    assert kinds(tmp_path / "r") == ["reload"]

    plain = write_suite(tmp_path / "plain.json", {"runs": 2, "processes": 0})
    assert lockstep(lockstep_bin, "suite", "--model", default_model, "--suite", plain,
                    "--out-dir", tmp_path / "p").returncode == 0
    assert kinds(tmp_path / "p") == ["reload"]   # verify: the last of 2 runs is on a re-loaded model


def test_bad_check_is_bad_input(lockstep_bin, default_model, tmp_path):
    for check, message in (({"kind": "dance"}, "check.kind"), ({"workers": 0}, "check.workers"),
                           ({"speed": 3}, "unknown key")):
        path = write_suite(tmp_path / "bad.json", check)
        result = lockstep(lockstep_bin, "suite", "--model", default_model, "--suite", path)
        assert result.returncode == 2 and message in result.stderr, result.stderr
    assert lockstep(lockstep_bin, "suite").returncode == 2   # --suite is required

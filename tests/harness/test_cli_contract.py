"""What a new user ran into, each fixed and held here: results on stdout and progress on stderr,
bench without its default suite in the way and with filters, a suite's own counts honoured by verify,
a prompt too long for the context refused before any compute, prompts from a file or stdin, a golden
never created in a folder that does not exist, and an unknown command named."""
import json
import subprocess
import time

from test_cli import lockstep


def test_bench_takes_a_prompt_and_filters_by_tier_and_case(lockstep_bin, default_model, tmp_path):
    hi = lockstep(lockstep_bin, "bench", "--model", default_model, "--prompt", "Hi", "--max-new-tokens", "2",
                  "--runs", "1", "--processes", "0", "--out-dir", tmp_path / "a")
    assert hi.returncode == 0, hi.stderr[-2000:]
    assert "bench: case 1/1 'prompt-1'" in hi.stderr and "verify: case" not in hi.stderr
    one = lockstep(lockstep_bin, "bench", "--model", default_model, "--tier", "1", "--case", "sanity-capital",
                   "--max-new-tokens", "2", "--runs", "1", "--processes", "0", "--out-dir", tmp_path / "b")
    assert one.returncode == 0, one.stderr[-2000:]
    assert len(json.loads((tmp_path / "b" / "results.json").read_text())["cases"]) == 1
    assert "1 sanity" in one.stdout   # the per-tier table is a result: stdout
    bad = lockstep(lockstep_bin, "bench", "--model", default_model, "--case", "nosuch", "--out-dir", tmp_path / "c")
    assert bad.returncode == 2 and "--case nosuch: no case of that id" in bad.stderr, bad.stderr


def test_verify_honours_the_suites_own_counts_unless_given(lockstep_bin, default_model, tmp_path):
    suite = tmp_path / "s.json"
    suite.write_text(json.dumps({"schema": "lockstep.suite/0", "name": "s", "check": {"runs": 1, "processes": 0},
                                 "defaults": {"max_new_tokens": 2}, "cases": [{"id": "a", "prompt": "Hi"}]}))
    own = lockstep(lockstep_bin, "verify", "--model", default_model, "--suite", suite, "--out-dir", tmp_path / "a")
    assert own.returncode == 0, own.stderr[-2000:]
    settings = json.loads((tmp_path / "a" / "results.json").read_text())["settings"]
    assert (settings["runs"], settings["processes"]) == (1, 0)
    given = lockstep(lockstep_bin, "verify", "--model", default_model, "--suite", suite, "--runs", "2",
                     "--out-dir", tmp_path / "b")
    assert given.returncode == 0, given.stderr[-2000:]
    assert json.loads((tmp_path / "b" / "results.json").read_text())["settings"]["runs"] == 2


def test_a_prompt_over_the_context_is_refused_before_any_compute(lockstep_bin, default_model, tmp_path):
    start = time.monotonic()
    result = lockstep(lockstep_bin, "run", "--model", default_model, "--prompt", "word " * 3000,
                      "--max-new-tokens", "6000")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "exceeds the model's context of 8192 tokens" in result.stderr, result.stderr
    assert time.monotonic() - start < 20   # no prefill of 3000 tokens first (45 s on 2 cores before)


def test_prompt_from_a_file_or_stdin(lockstep_bin, default_model, tmp_path):
    text = "What is the capital of France?"
    (tmp_path / "p.txt").write_text(text)
    args = ["run", "--model", default_model, "--max-new-tokens", "4", "--json"]
    inline = lockstep(lockstep_bin, *args, "--prompt", text)
    from_file = lockstep(lockstep_bin, *args, "--prompt-file", tmp_path / "p.txt")
    piped = subprocess.run([str(lockstep_bin), *map(str, args), "--prompt-file", "-"], input=text, capture_output=True,
                           text=True, timeout=300)
    ids = [json.loads(r.stdout)["output_ids"] for r in (inline, from_file, piped)]
    assert ids[0] == ids[1] == ids[2], [r.stderr[-500:] for r in (inline, from_file, piped)]
    both = lockstep(lockstep_bin, *args, "--prompt", text, "--prompt-file", tmp_path / "p.txt")
    assert both.returncode == 2 and "not both" in both.stderr
    neither = lockstep(lockstep_bin, *args)
    assert neither.returncode == 2 and "--prompt-file" in neither.stderr
    missing = lockstep(lockstep_bin, *args, "--prompt-file", tmp_path / "nope.txt")
    assert missing.returncode == 2 and "cannot open" in missing.stderr


def test_update_golden_does_not_create_missing_folders_unless_asked(lockstep_bin, default_model, tmp_path):
    golden = tmp_path / "golden" / "typo" / "g.proof.json"
    args = ["verify", "--model", default_model, "--prompt", "Hi", "--max-new-tokens", "2", "--runs", "1",
            "--processes", "0", "--out-dir", tmp_path / "out", "--golden", golden, "--update-golden"]
    refused = lockstep(lockstep_bin, *args)
    assert refused.returncode == 2 and "does not exist" in refused.stderr and "--create-golden-dir" in refused.stderr
    assert not (tmp_path / "golden").exists()
    made = lockstep(lockstep_bin, *args, "--create-golden-dir")
    assert made.returncode == 0 and golden.is_file(), made.stderr[-2000:]


def test_an_unknown_command_is_named(lockstep_bin):
    for args in (["nosuch"], ["nosuch", "--help"]):
        result = lockstep(lockstep_bin, *args)
        assert result.returncode == 2 and "unknown command 'nosuch'" in result.stderr, result.stderr
        assert "verify" in result.stderr   # the commands there are


def test_results_on_stdout_and_progress_on_stderr(lockstep_bin, default_model, tmp_path):
    sweep = lockstep(lockstep_bin, "sweep", "--model", default_model, "--lengths", "1", "--batches", "1,2",
                     "--decode-tokens", "0", "--out-dir", tmp_path / "s")
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    assert "length \\ batch" in sweep.stdout and "length \\ batch" not in sweep.stderr
    compare = lockstep(lockstep_bin, "compare", "--model", default_model, "--runs", "3", "--max-batch", "2",
                       "--decode-tokens", "0", "--out-dir", tmp_path / "c")
    assert compare.returncode == 0, compare.stderr[-2000:]
    assert "compare: loading model" in compare.stderr.splitlines()[0]
    assert "compare: mode off: 3/3 runs" in compare.stderr
    assert "unique output(s) over 3 co-batched runs" in compare.stdout


def test_info_prints_the_environment_fingerprint(lockstep_bin):
    table = lockstep(lockstep_bin, "info")
    assert table.returncode == 0, table.stderr
    for label in ("os:", "cpu:", "cpu flags:", "cuda runtime:", "cublasLt:", "gpus:", "modes:", "default model:"):
        assert label in table.stdout, label
    doc = json.loads(lockstep(lockstep_bin, "info", "--json").stdout)
    assert doc["schema"] == "lockstep.info/0"
    assert doc["environment"]["libtorch_version"] and doc["environment"]["threads"] >= 1
    assert doc["modes"] == ["off", "batch_invariant", "portable"]
    assert "sum.dim_IntList" in doc["invariant_overloads"] and "sum" not in doc["invariant_overloads"]
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    assert all(flag in flags for flag in doc["cpu_flags"])
    assert ("avx2" in doc["cpu_flags"]) == ("avx2" in flags)
    assert isinstance(doc["gpus"], list)

"""`lockstep throughput` and the --device/--dtype options: a real run of the
batching engine on the embedded model, and clear errors for bad options."""
import json

from test_cli import lockstep


def test_throughput_json(lockstep_bin, default_model):
    result = lockstep(lockstep_bin, "throughput", "--model", default_model, "--batches", "1,3", "--new-tokens", "3",
                      "--prompt-tokens", "5", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["device"] == "cpu" and out["dtype"] == "fp32" and out["mode"] == "batch_invariant"
    assert [r["batch"] for r in out["results"]] == [1, 3]
    assert [r["tokens"] for r in out["results"]] == [3, 9], "every request generates exactly --new-tokens"
    assert all(r["tokens_per_s"] > 0 for r in out["results"])
    assert out["choice"] == "greedy"
    sampled = lockstep(lockstep_bin, "throughput", "--model", default_model, "--batches", "2", "--new-tokens", "3",
                       "--prompt-tokens", "5", "--temperature", "0.7", "--top-p", "0.9", "--seed", "4", "--json")
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    out = json.loads(sampled.stdout)
    assert out["choice"].startswith("sampled (temperature 0.7") and out["results"][0]["tokens"] == 6


def test_profile_writes_a_trace_the_summary_reads(lockstep_bin, default_model, tmp_path):
    import pathlib
    import subprocess
    import sys
    trace = tmp_path / "trace.json"
    result = lockstep(lockstep_bin, "throughput", "--model", default_model, "--batches", "2", "--new-tokens", "2",
                      "--prompt-tokens", "3", "--profile", str(trace))
    assert result.returncode == 0, result.stderr[-2000:]
    events = json.loads(trace.read_text())["traceEvents"]
    assert any(e.get("ph") == "X" for e in events), "the trace holds no timed events"
    script = pathlib.Path(__file__).resolve().parents[2] / "ci" / "trace_summary.py"
    summary = subprocess.run([sys.executable, str(script), str(trace)], capture_output=True, text=True)
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.startswith("trace span") and "GPU busy 0.0 ms" in summary.stdout
    missing = lockstep(lockstep_bin, "throughput", "--model", default_model, "--profile", str(tmp_path / "no" / "t.json"))
    assert missing.returncode == 3 and "does not exist" in missing.stderr, missing.stderr


def test_device_and_dtype_errors(lockstep_bin, default_model):
    bad = [(["--dtype", "fp8"], 2, "--dtype must be"), (["--dtype", "fp16"], 2, "CUDA only"),
           (["--device", "tpu"], 2, "--device must be"), (["--batches", "0"], 2, "1..4096"),
           (["--temperature", "0.5"], 2, "needs an explicit seed"), (["--top-k", "5"], 2, "only apply when sampling")]
    for args, code, message in bad:
        result = lockstep(lockstep_bin, "throughput", "--model", default_model, *args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    run = lockstep(lockstep_bin, "run", "--model", default_model, "--prompt", "Hi", "--dtype", "fp8")
    assert run.returncode == 2 and "--dtype must be" in run.stderr


def test_run_in_bf16_on_the_cpu(lockstep_bin, default_model):
    result = lockstep(lockstep_bin, "run", "--model", default_model, "--prompt", "What is the capital of France?",
                      "--dtype", "bf16", "--max-new-tokens", "8", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert "Paris" in out["text"], out["text"]


def test_cuda_without_a_gpu_is_an_environment_error(lockstep_bin, default_model):
    import pytest
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = lockstep(lockstep_bin, "run", "--model", default_model, "--prompt", "Hi", "--device", "cuda")
    assert result.returncode == 3 and "no CUDA GPU" in result.stderr, result.stderr


def test_run_stops_at_a_stop_string(lockstep_bin, default_model):
    result = lockstep(lockstep_bin, "run", "--model", default_model, "--prompt", "What is the capital of France?",
                      "--stop", "France", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["stop_reason"] == "stop_string" and out["text"].endswith("France"), out["text"]
    assert lockstep(lockstep_bin, "run", "--model", default_model, "--prompt", "Hi", "--stop", "").returncode == 2

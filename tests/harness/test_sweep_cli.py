"""`lockstep sweep` end to end on the real model: a target request alone and
in batches of random co-batched requests at several prompt lengths; every
(batch, length) cell must give the target's prefill logits the solo bits, and
its decoding through the batching engine the solo tokens and step digests.
"""
import json

from test_cli import lockstep


def test_sweep_grid_is_bitwise_equal_to_solo(lockstep_bin, default_model, tmp_path):
    result = lockstep(lockstep_bin, "sweep", "--model", default_model, "--lengths", "1,5,12", "--batches", "1,2,5",
                      "--decode-tokens", "4", "--out-dir", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sweep: PASS (mode batch_invariant): 0 of 18 (batch, length) cells differ" in result.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert [c["id"] for c in results["cases"]] == ["len-1", "decode-len-1", "len-5", "decode-len-5", "len-12",
                                                   "decode-len-12"]
    for case in results["cases"]:
        assert [r["label"] for r in case["runs"]] == ["batch-1", "batch-2", "batch-5"]
        assert all(r["kind"] == "batch" and r["match"] for r in case["runs"])
        assert len(case["prompt_ids"]) == int(case["id"].split("-")[-1])
        steps = 4 if case["id"].startswith("decode-") else 1
        assert len(case["step_logits_sha256"]) == len(case["output_ids"]) == steps


def test_sweep_targets_are_reproducible_from_the_seed(lockstep_bin, default_model, tmp_path):
    def ids(seed, out):
        lockstep(lockstep_bin, "sweep", "--model", default_model, "--lengths", "4", "--batches", "1", "--seed", seed,
                 "--out-dir", out)
        return json.loads((out / "results.json").read_text())["cases"][0]["prompt_ids"]

    assert ids("3", tmp_path / "a") == ids("3", tmp_path / "b") != ids("4", tmp_path / "c")


def test_bad_grids_fail_before_loading_the_model(lockstep_bin, default_model, tmp_path):
    for args, message in ((["--batches", "0"], "batch sizes must be at least 1"),
                          (["--lengths", "0"], "prompt lengths must be at least 1"),
                          (["--lengths", "4096", "--batches", "64"], "GiB of logits")):
        result = lockstep(lockstep_bin, "sweep", "--model", default_model, *args, "--out-dir", tmp_path)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "loaded" not in result.stderr


def test_stock_kernels_drift_in_the_same_sweep(lockstep_bin, default_model, tmp_path):
    """The same grid with --mode off: stock fp32 mm gives a 1-token request
    other bits once it shares the batch (kernels/STOCK-DRIFT.md: every M >= 2 on the CPU),
    so the sweep can fail, and says where."""
    result = lockstep(lockstep_bin, "sweep", "--model", default_model, "--lengths", "1", "--batches", "1,2,3,8",
                      "--mode", "off", "--decode-tokens", "0", "--out-dir", tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    runs = {r["label"]: r for r in results["cases"][0]["runs"]}
    assert runs["batch-1"]["match"]
    assert not all(runs[f"batch-{b}"]["match"] for b in (2, 3, 8))
    assert "X" in result.stdout.split("len-1")[-1].splitlines()[0]   # the grid is a result: stdout


def test_decoding_in_a_shrinking_engine_batch_drifts_with_stock_kernels(lockstep_bin, default_model, tmp_path):
    """The decode cells: the target decodes beside requests that end at random steps. With lockstep's
    kernels every token and step digest equals the solo run's; with stock kernels some cell differs
    (the decode-shaped GEMMs change with the batch), and the sweep fails naming it."""
    args = ("sweep", "--model", default_model, "--lengths", "3", "--batches", "1,4,8", "--decode-tokens", "5")
    on = lockstep(lockstep_bin, *args, "--out-dir", tmp_path / "on")
    assert on.returncode == 0, on.stderr[-2000:]
    off = lockstep(lockstep_bin, *args, "--mode", "off", "--out-dir", tmp_path / "off")
    assert off.returncode == 1, off.stderr[-2000:]
    cases = {c["id"]: c for c in json.loads((tmp_path / "off" / "results.json").read_text())["cases"]}
    decode_runs = cases["decode-len-3"]["runs"]
    assert decode_runs[0]["match"] and not all(r["match"] for r in decode_runs[1:])
    assert "decode-len-3" in off.stdout


def test_negative_decode_tokens_are_bad_input(lockstep_bin, default_model, tmp_path):
    result = lockstep(lockstep_bin, "sweep", "--model", default_model, "--decode-tokens", "-1", "--out-dir", tmp_path)
    assert result.returncode == 2 and "--decode-tokens must not be negative" in result.stderr, result.stderr

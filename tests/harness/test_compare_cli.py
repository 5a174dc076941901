"""`lockstep compare`: one request co-batched many times with random
neighbours; stock kernels give it several different outputs, lockstep's
exactly one (the "N unique vs 1" demonstration), on the same batches."""
import json

from test_cli import lockstep


def test_stock_gives_several_outputs_invariant_gives_one(lockstep_bin, default_model, tmp_path):
    result = lockstep(lockstep_bin, "compare", "--model", default_model, "--length", "1", "--runs", "12",
                      "--max-batch", "8", "--out-dir", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "compare.json").read_text())
    assert report["schema"] == "lockstep.compare/0" and report["verdict"] == "pass"
    off, ours = report["modes"]["off"], report["modes"]["batch_invariant"]
    assert ours["unique_outputs"] == 1 and off["unique_outputs"] > 1
    assert sum(h["runs"] for h in off["histogram"]) == 12
    assert [r["batch"] for r in off["runs"]] == [r["batch"] for r in ours["runs"]], "same batches for both modes"
    assert "1 with lockstep's" in result.stderr


def test_compare_with_a_prompt_and_bad_input(lockstep_bin, default_model, tmp_path):
    result = lockstep(lockstep_bin, "compare", "--model", default_model, "--prompt", "Hi", "--runs", "3",
                      "--max-batch", "3", "--out-dir", tmp_path, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["modes"]["batch_invariant"]["unique_outputs"] == 1
    assert lockstep(lockstep_bin, "compare", "--model", default_model, "--runs", "0").returncode == 2
    assert lockstep(lockstep_bin, "compare", "--model", default_model, "--max-batch", "0").returncode == 2


def test_prefill_only_comparison_and_decode_settings(lockstep_bin, default_model, tmp_path):
    """--decode-tokens 0 compares the prefill logits (stock CPU kernels drift there at length 1 too);
    the default decodes 8 tokens through the engine, recorded in the settings."""
    prefill = lockstep(lockstep_bin, "compare", "--model", default_model, "--length", "1", "--runs", "12",
                       "--decode-tokens", "0", "--out-dir", tmp_path / "prefill")
    assert prefill.returncode == 0, prefill.stderr[-2000:]
    doc = json.loads((tmp_path / "prefill" / "compare.json").read_text())
    assert doc["settings"]["decode_tokens"] == 0
    assert doc["modes"]["off"]["unique_outputs"] > 1 and doc["modes"]["batch_invariant"]["unique_outputs"] == 1
    bad = lockstep(lockstep_bin, "compare", "--model", default_model, "--decode-tokens", "-2", "--out-dir", tmp_path)
    assert bad.returncode == 2 and "--decode-tokens must not be negative" in bad.stderr


def test_one_engine_copies_and_fillers(lockstep_bin, default_model, tmp_path):
    """--one-engine: the copies and the random fillers go to one engine at once (batched together at
    every step); lockstep's kernels give the copies one output by tokens and by bits. Stock kernels
    usually give several bit patterns, but how the copies meet depends on thread timing, so that side
    is reported, not asserted (test_stock_gives_several_outputs_invariant_gives_one is the control)."""
    result = lockstep(lockstep_bin, "compare", "--model", default_model, "--one-engine", "--length", "8",
                      "--runs", "16", "--fillers", "16", "--decode-tokens", "6", "--filler-max-prompt", "48",
                      "--filler-max-new", "8", "--max-batch", "16", "--out-dir", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert doc["settings"]["one_engine"] is True and doc["settings"]["fillers"] == 16
    ours, off = doc["modes"]["batch_invariant"], doc["modes"]["off"]
    assert ours["unique_outputs"] == 1 and ours["unique_token_outputs"] == 1
    assert sum(h["runs"] for h in ours["histogram"]) == 16 and ours["largest_batch"] > 1
    assert off["unique_outputs"] >= 1 and "unique bit patterns" in result.stdout
    bad = lockstep(lockstep_bin, "compare", "--model", default_model, "--one-engine", "--decode-tokens", "0",
                   "--out-dir", tmp_path)
    assert bad.returncode == 2 and "--one-engine decodes" in bad.stderr

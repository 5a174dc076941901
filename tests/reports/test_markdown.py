"""The Markdown job summary: one line on co-batching (how many runs shared engine steps with other
requests, the largest batch, the tokens per batch size) when results.json has batch data, none
for a file from before batch plans."""
import json

from report_testlib import ROOT, without_batch_fields  # noqa: F401  (ROOT puts the repo root on sys.path)
from reports.load import load
from reports.markdown import summary_markdown


def read(path):
    return json.loads(path.read_text())


def test_the_summary_says_how_many_runs_were_co_batched_and_the_largest_batch(cobatched):
    doc = read(cobatched)
    text = summary_markdown(load([cobatched]))
    runs = sum(1 for case in doc["cases"] for run in case["runs"] if run.get("batch"))
    largest = max(map(int, doc["batch_sizes"]))
    sizes = ", ".join(f"{size}: {tokens}" for size, tokens in sorted((int(k), v) for k, v in doc["batch_sizes"].items()))
    line = (f"**co-batching:** {runs} co-batched runs (decoded in one engine step with other requests), "
            f"largest batch {largest} (case tokens per batch size: {sizes})")
    assert [l for l in text.splitlines() if "co-batching" in l] == [line]
    assert runs == 4 * len(doc["cases"]) and largest >= 8   # the four rounds ran; batch-8 really held 8
    # the first divergences name the batch at their step
    (first,) = [l for l in text.splitlines() if l.startswith("- <code>case ")][:1]
    run = doc["cases"][0]["runs"][0]
    step = run["first_divergence"]["step"]
    assert f"in a batch of {run['batch']['sizes'][step]} (row {run['batch']['rows'][step]}) at step {step}" in first


def test_a_file_without_batch_fields_has_no_co_batching_line(cobatched, artifacts, tmp_path):
    old = tmp_path / "results.json"
    old.write_text(json.dumps(without_batch_fields(read(cobatched))))
    text = summary_markdown(load([old]))
    assert "co-batching" not in text and "in a batch of" not in text and "FAIL" in text
    # a sweep's empty batch_sizes is no batch data either
    assert "co-batching" not in summary_markdown(load([artifacts["sweep-off"]]))

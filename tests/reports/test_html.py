"""The HTML report from real results: self-contained, every section present, the charts drawn from
the numbers in results.json / compare.json, and every failure shown with both sides."""
import html.parser
import json

import pytest
from markupsafe import escape

from report_testlib import ROOT, without_batch_fields  # noqa: F401  (ROOT puts the repo root on sys.path)
from reports.html import FULL_FAILURES, render_html
from reports.load import BadInput, load

SECTIONS = ["verdict", "summary", "failures", "tiers", "sweep", "compare", "timings", "environment"]


class Page(html.parser.HTMLParser):
    """Collects ids, tags, classes and attributes that reference other resources."""

    def __init__(self, text):
        super().__init__()
        self.ids, self.tags, self.classes, self.references = {}, [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids[attrs["id"]] = attrs
        self.classes += (attrs.get("class") or "").split()
        for key in ("src", "href", "xlink:href"):
            if attrs.get(key) and not attrs[key].startswith("#"):
                self.references.append(attrs[key])


def read(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def everything(artifacts):
    names = ["fail", "crash", "sweep-off", "sweep", "bench", "pass"]
    return load([artifacts[n] for n in names], [artifacts["compare"]])


def test_the_report_is_self_contained_and_has_every_section(everything):
    text = render_html(everything)
    page = Page(text)
    assert all(section in page.ids for section in SECTIONS)
    assert page.references == []          # no external stylesheet, image, font or link
    assert "script" not in page.tags and "link" not in page.tags
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text
    assert page.ids["verdict"]["data-verdict"] == "fail"


def test_a_passing_run_gets_a_pass_badge(artifacts):
    page = Page(render_html(load([artifacts["pass"]])))
    assert page.ids["verdict"]["data-verdict"] == "pass"
    assert "badge" in page.classes and "failure" not in page.classes


def test_heatmap_cells_are_the_sweep_results(artifacts):
    for name in ("sweep-off", "sweep"):
        doc = read(artifacts[name])
        page = Page(render_html(load([artifacts[name]])))
        cells = doc["counts"]["comparisons"]
        assert page.classes.count("cell") == cells
        assert page.classes.count("differs") == doc["counts"]["comparisons_failed"]
        assert page.classes.count("same") == cells - doc["counts"]["comparisons_failed"]


def test_histogram_bars_are_the_compare_counts(artifacts):
    doc = read(artifacts["compare"])
    text = render_html(load([], [artifacts["compare"]]))
    assert Page(text).classes.count("bar") == sum(len(m["histogram"]) for m in doc["modes"].values())
    for mode in doc["modes"].values():
        for bar in mode["histogram"]:
            assert f"{bar['runs']} run{'s' if bar['runs'] != 1 else ''}: output sha256 {bar['logits_sha256']}" in text


def section(text, name):
    start = text.index(f'<section id="{name}">')
    return text[start:text.index("</section>", start)]


def rewritten(path, tmp_path, change):
    """A copy of a real results.json / compare.json, changed by `change(doc)`."""
    doc = read(path)
    change(doc)
    out = tmp_path / path.name
    out.write_text(json.dumps(doc))
    return out


def test_the_compare_caption_names_what_was_hashed(artifacts, tmp_path):
    decoded = read(artifacts["compare"])["settings"]["decode_tokens"]
    assert decoded == 8   # lockstep compare's default: the output is decoded tokens, not the prefill
    text = section(render_html(load([], [artifacts["compare"]])), "compare")
    assert f"SHA-256 of its {decoded} decoded tokens and every step&#39;s logits" in text
    assert "prefill" not in text

    def prefill_only(doc):
        doc["settings"]["decode_tokens"] = 0
    text = section(render_html(load([], [rewritten(artifacts["compare"], tmp_path, prefill_only)])), "compare")
    assert "SHA-256 of its prefill logits at every position" in text and "decoded" not in text


def test_the_timing_chart_shows_every_case(artifacts, tmp_path):
    def many_cases(doc):   # a 45-case suite: the real cases, repeated under new ids
        doc["cases"] = [dict(doc["cases"][i % len(doc["cases"])], id=f"case-{i}") for i in range(45)]
    text = render_html(load([rewritten(artifacts["pass"], tmp_path, many_cases)]))
    assert Page(text).classes.count("timing") == 45
    assert all(f"<title>case-{i}: " in text for i in range(45))


def test_durations_that_were_not_measured_show_as_a_dash(artifacts, tmp_path):
    sweep = read(artifacts["sweep-off"])

    def as_the_harness_writes_them(doc):   # sweep's prefill cells (len-L) hold ~2e-08 s
        for case in doc["cases"]:
            if case["id"].startswith("len-"):
                case["reference"]["duration_s"] = 2e-08
                for run in case["runs"]:
                    run["duration_s"] = 2e-08
    text = section(render_html(load([rewritten(artifacts["sweep-off"], tmp_path, as_the_harness_writes_them)])),
                   "timings")
    decoded = [run["duration_s"] for case in sweep["cases"] if case["id"].startswith("decode-len-") for run in case["runs"]]
    runs = sum(len(case["runs"]) for case in sweep["cases"])
    assert f"batch: {runs} · {sum(decoded) / len(decoded):.2f} s · {max(decoded):.2f} s" in text
    assert f"({runs - len(decoded)} without a measured time)" in text
    assert "0.000 ms" not in text and "e-08" not in text

    def prefill_only(doc):
        as_the_harness_writes_them(doc)
        doc["cases"] = [case for case in doc["cases"] if case["id"].startswith("len-")]
    text = section(render_html(load([rewritten(artifacts["sweep-off"], tmp_path, prefill_only)])), "timings")
    prefill_runs = sum(len(case["runs"]) for case in sweep["cases"] if case["id"].startswith("len-"))
    assert f"batch: {prefill_runs} · – · –" in text and "0.000 ms" not in text

    def one_untimed(doc):
        doc["cases"][0]["reference"]["duration_s"] = 2e-08
    text = render_html(load([rewritten(artifacts["pass"], tmp_path, one_untimed)]))
    assert "– (not measured)" in text and Page(text).classes.count("timing") == len(read(artifacts["pass"])["cases"]) - 1


def test_top_candidates_show_their_texts_or_say_they_are_missing(artifacts, tmp_path):
    text = render_html(load([artifacts["fail"]]))
    top = [c for case in read(artifacts["fail"])["cases"] for run in case["runs"] if run["first_divergence"]
           for c in run["first_divergence"].get("expected_top", [])]
    assert top and all(c["text"] for c in top)
    assert all(f'<td class="mono">{c["text"]}</td>' in text for c in top)

    def no_texts(doc):   # as harness/runs/sweep.cpp writes them: ids and logits, every "text" empty
        for case in doc["cases"]:
            for run in case["runs"]:
                for c in (run["first_divergence"] or {}).get("expected_top", []) + \
                         (run["first_divergence"] or {}).get("actual_top", []):
                    c["text"] = ""
    text = render_html(load([rewritten(artifacts["sweep-off"], tmp_path, no_texts)]))
    assert '<table class="top">' in text
    assert '<td class="mono"></td>' not in text and "<th>text</th>" not in text
    assert "token texts: not recorded in results.json" in text


def test_every_failure_is_shown_with_both_sides(artifacts):
    doc = read(artifacts["fail"])
    text = render_html(load([artifacts["fail"]]))
    page = Page(text)
    failing = [r for c in doc["cases"] for r in c["runs"] if not r["match"]] + \
              [c for c in doc["golden"]["cases"] if not c["match"]]
    assert sum(1 for i in page.ids if i.startswith("failure-")) == len(failing) > 0
    for item in failing:
        div = item["first_divergence"]
        assert div["expected_sha256"] in text and div["actual_sha256"] in text
    assert f'Failures ({len(failing)})' in text


def test_tiers_table_counts_cases_per_tier(artifacts):
    doc = read(artifacts["bench"])
    text = render_html(load([artifacts["bench"]]))
    tiers = sorted({c["tier"] for c in doc["cases"]})
    assert Page(text).classes.count("tier") == len(tiers)
    assert "sanity" in text and "edge cases" in text


def test_timings_and_environment_come_from_the_results(artifacts):
    doc = read(artifacts["pass"])
    text = render_html(load([artifacts["pass"]]))
    for value in (doc["environment"]["cpu_model"], doc["environment"]["libtorch_version"],
                  doc["model"]["file_sha256"], doc["environment"]["compiler"]):
        assert value in text
    assert f"{doc['duration_s']:.2f} s" in text


def test_a_wrong_file_is_bad_input_naming_it(artifacts, tmp_path):
    with pytest.raises(BadInput, match="golden.proof.json: schema is 'lockstep.proof/1'"):
        load([artifacts["golden"]])
    broken = tmp_path / "results.json"
    broken.write_text(read(artifacts["pass"]).__repr__())
    with pytest.raises(BadInput, match="invalid JSON"):
        load([broken])


def failure_blocks(text):
    """{index: the HTML of failure-<index>} of the full failures (those shown with both sides)."""
    body = section(text, "failures")
    starts = [i for i in range(len(body)) if body.startswith('<div class="failure" id="failure-', i)]
    return {n: body[start:(starts + [len(body)])[n]] for n, start in enumerate(starts, 1)}


def batch_runs(doc):
    return [(case, run) for case in doc["cases"] for run in case["runs"] if not run["match"] and run.get("batch")]


def test_a_failing_co_batched_run_shows_its_batch_at_the_divergent_step(cobatched):
    doc = read(cobatched)
    text = render_html(load([cobatched]))
    blocks = failure_blocks(text)
    failing = batch_runs(doc)
    assert len(blocks) == min(len(failing), FULL_FAILURES) > 0
    for n, (case, run) in enumerate(failing[:FULL_FAILURES], 1):
        block, batch, step = blocks[n], run["batch"], run["first_divergence"]["step"]
        size, row = batch["sizes"][step], batch["rows"][step]
        assert str(escape(f"case '{case['id']}' {run['label']} differs from run-1 in a batch of {size} (row {row}) "
                          f"at step {step}:")) in block
        assert f"batch at step {step}: <b>{size} sequence{'' if size == 1 else 's'}</b>, row <b>{row}</b>" in block
        assert f"joined a running batch: <b>{'yes' if batch['joined_running'] else 'no'}</b>" in block
        assert f"joined by others: <b>{'yes' if batch['joined_by_others'] else 'no'}</b>" in block
        assert f"sizes per step: {' '.join(map(str, batch['sizes']))} · rows per step: {' '.join(map(str, batch['rows']))}" in block
        assert block.count('<tr class="neighbour') == len(batch["neighbours"]) > 0
        for neighbour in batch["neighbours"]:
            first, last = neighbour["steps"]
            assert (f'<td>{neighbour["request"]}</td><td class="num">{neighbour["prompt_tokens"]}</td>'
                    f'<td class="num">{neighbour["new_tokens"]}</td>') in block
            assert f'<td class="mono">{neighbour["sampling"]}</td><td class="mono">{first}..{last}</td>' in block
        # the neighbours marked as sharing the divergent step and the case itself fill the batch
        assert block.count('<tr class="neighbour at-step">') == size - 1
    # the rest are table rows, their messages still name the batch
    assert all(" in a batch of " in f for f in text.split('<tr id="failure-')[1:])
    assert text.count('<tr id="failure-') == max(len(failing) - FULL_FAILURES, 0)
    assert {run["batch"]["joined_running"] for _, run in failing} == {True, False}   # the join rounds ran
    # The localised run names the first divergent layer and op in its message and its batch panel.
    localised = [(n, run) for n, (_, run) in enumerate(failing[:FULL_FAILURES], 1) if "first_divergent_activation" in run]
    assert len(localised) == 1
    n, run = localised[0]
    where = run["first_divergent_activation"]
    assert where["found"] and where["op"] == "logits", where
    assert blocks[n].count(str(escape(where["what"]))) == 3   # the message, the batch panel, the details
    assert '<div class="activation found">' in blocks[n]


def test_the_batch_is_read_at_the_divergent_step(cobatched, tmp_path):
    """first_divergence.step indexes sizes and rows: a run whose batch grew mid-decode, moved to a later
    step, names the later batch; a step past the recorded ones (one side stopped earlier) names none."""
    doc = read(cobatched)
    case, run = next((c, r) for c, r in batch_runs(doc) if len(set(r["batch"]["sizes"])) > 1)
    later = next(i for i, size in enumerate(run["batch"]["sizes"]) if size != run["batch"]["sizes"][0])

    def diverge_at(step, reason="logits"):
        def change(d):
            for c in d["cases"]:
                for r in c["runs"]:
                    if c["id"] == case["id"] and r["label"] == run["label"]:
                        r["first_divergence"].update(step=step, reason=reason)
        return change
    blocks = failure_blocks(render_html(load([rewritten(cobatched, tmp_path, diverge_at(later))])))
    index = [(c["id"], r["label"]) for c, r in batch_runs(doc)].index((case["id"], run["label"])) + 1
    size, row = run["batch"]["sizes"][later], run["batch"]["rows"][later]
    assert f"differs from run-1 in a batch of {size} (row {row}) at step {later}:" in blocks[index]
    assert f"batch at step {later}: <b>{size} sequences</b>, row <b>{row}</b>" in blocks[index]
    assert blocks[index].count('<tr class="neighbour at-step">') == size - 1

    past = len(run["batch"]["sizes"])
    block = failure_blocks(render_html(load([rewritten(cobatched, tmp_path, diverge_at(past, "length"))])))[index]
    assert "in a batch of" not in block and f"divergent step {past} is past the {past} recorded steps" in block
    assert block.count('<tr class="neighbour') == len(run["batch"]["neighbours"])


def test_the_summary_shows_the_batch_size_histogram_and_rounds(cobatched):
    doc = read(cobatched)
    summary = section(render_html(load([cobatched])), "summary")
    page = Page(summary)
    assert page.classes.count("batch-size") == len(doc["batch_sizes"]) > 1
    for size, tokens in doc["batch_sizes"].items():
        assert f"<title>batch of {size}: {tokens} case tokens</title>" in summary
    assert [int(size) for size in doc["batch_sizes"]] != [1]    # co-batching really happened
    largest = max(map(int, doc["batch_sizes"]))
    runs = sum(1 for _, run in ((c, r) for c in doc["cases"] for r in c["runs"]) if run.get("batch"))
    assert f"{runs} runs decoded in engine steps shared with other requests; largest batch <b>{largest}</b>" in summary
    assert f"{runs} co-batched runs · largest batch {largest}" in summary
    assert "".join(f'<span class="tag round">{r}</span> ' for r in doc["settings"]["batch_rounds"]) in summary
    assert doc["settings"]["batch_rounds"] == ["batch-3", "batch-8", "join-a", "join-b"]


def test_a_file_without_batch_fields_still_renders(cobatched, artifacts, tmp_path):
    old = rewritten(cobatched, tmp_path, without_batch_fields)
    text = render_html(load([old]))
    page = Page(text)
    assert all(section in page.ids for section in SECTIONS)
    assert not any(i.startswith("batching-") for i in page.ids)
    assert "batch-size" not in page.classes and "neighbour" not in page.classes and "batch" not in page.classes
    shown = section(text, "summary") + section(text, "failures")
    assert "in a batch of" not in shown and "co-batched" not in shown and "batch rounds" not in shown
    assert sum(1 for i in page.ids if i.startswith("failure-")) == len(batch_runs(read(cobatched)))
    # a sweep writes an empty batch_sizes and no run batch: no panel, no batch in its messages
    assert read(artifacts["sweep-off"])["batch_sizes"] == {}
    text = render_html(load([artifacts["sweep-off"]]))
    assert "batching" not in Page(text).classes and "neighbour" not in Page(text).classes
    assert "in a batch of" not in text and "co-batched" not in section(text, "summary")


def test_malformed_batch_fields_are_bad_input_naming_them(cobatched, tmp_path):
    def sizes_not_a_list(doc):
        doc["cases"][0]["runs"][0]["batch"]["sizes"] = "3 3 3"
    with pytest.raises(BadInput, match=r"cases\[0\]\.runs\[0\]\.batch: field 'sizes' missing or not list"):
        load([rewritten(cobatched, tmp_path, sizes_not_a_list)])

    def size_not_a_number(doc):
        doc["batch_sizes"] = {"eight": 3}
    with pytest.raises(BadInput, match="batch_sizes entry 'eight'"):
        load([rewritten(cobatched, tmp_path, size_not_a_number)])

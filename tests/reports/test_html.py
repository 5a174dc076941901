"""The HTML report from real results: self-contained, every section present, the charts drawn from
the numbers in results.json / compare.json, and every failure shown with both sides."""
import html.parser
import json

import pytest

from report_testlib import ROOT  # noqa: F401  (puts the repo root on sys.path)
from reports.html import render_html
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
            assert f"{bar['runs']} run{'s' if bar['runs'] != 1 else ''}: logits sha256 {bar['logits_sha256']}" in text


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

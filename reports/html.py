"""The self-contained HTML report: one file, inline CSS and SVG, no scripts, no network.

`view(inputs)` turns the documents into what the template shows; `render_html` fills
templates/report.html.j2 with it.
"""
from __future__ import annotations

import datetime
import pathlib

import jinja2
from markupsafe import Markup

from reports import batching, divergence, svg
from reports.load import Inputs

TEMPLATES = pathlib.Path(__file__).resolve().parent / "templates"

# harness/suite.cpp tier_name(): the eight tiers of suites/tiers.json.
TIER_NAMES = {1: "sanity", 2: "long output", 3: "uncertain / creative", 4: "complex code", 5: "reasoning",
              6: "deep context", 7: "adversarial near-ties", 8: "edge cases"}
FULL_FAILURES = 25   # shown with both sides; the rest as table rows (a stress run can fail 2000 times)
# No prefill or generation takes under a microsecond: a smaller duration_s was not measured (a sweep's
# prefill cells hold ~2e-08 s), and 0 means "the run produced nothing". Both show as "–".
MEASURED_FROM_S = 1e-6
CHECKS = ("verify", "sweep", "bench", "stress", "reload", "suite")


def check_of(doc: dict) -> str:
    """Which command wrote a results.json: its argv names it; `suite` runs are told by their runs."""
    command = doc.get("command") or []
    name = command[1] if len(command) > 1 and command[1] in CHECKS else ""
    kinds = {run.get("kind") for case in doc["cases"] for run in case["runs"]}
    if name in ("", "suite"):
        if kinds == {"batch"}:
            return "sweep"
        if "thread" in kinds:
            return "stress"
        if any(case.get("tier") for case in doc["cases"]):
            return "bench"
        return "reload" if kinds == {"reload", "process"} or kinds == {"reload"} else "verify"
    return name


def measured(seconds) -> float | None:
    """A duration_s worth showing, or None ("–" in the report) for one missing or not measured."""
    return float(seconds) if isinstance(seconds, (int, float)) and seconds >= MEASURED_FROM_S else None


def compare_output(doc: dict) -> str:
    """What one compare output is the SHA-256 of (harness/cli/compare.cpp): settings.decode_tokens > 0
    (the default, 8) hashes the generated ids and every step's logits digest; 0, or a file from before
    --decode-tokens, the prefill logits."""
    tokens = (doc.get("settings") or {}).get("decode_tokens") or 0
    if tokens <= 0:
        return "its prefill logits at every position"
    return (f"its {tokens} decoded token{'' if tokens == 1 else 's'} and every step's logits "
            "(greedy, through the batching engine)")


def _tiers(results: list[dict]) -> list[dict]:
    rows = {}
    for doc in results:
        for case in doc["cases"]:
            tier = case.get("tier")
            if not tier:
                continue
            row = rows.setdefault(tier, {"tier": tier, "name": TIER_NAMES.get(tier, ""), "cases": 0, "passed": 0,
                                         "tokens": 0, "seconds": 0.0, "failed_ids": []})
            row["cases"] += 1
            row["passed"] += 1 if case["passed"] else 0
            if not case["passed"]:
                row["failed_ids"].append(case["id"])
            row["tokens"] += len(case.get("output_ids", []))
            row["seconds"] += measured((case.get("reference") or {}).get("duration_s")) or 0.0
    for row in rows.values():
        row["tokens_per_s"] = row["tokens"] / row["seconds"] if row["seconds"] > 0 else None
        row["ok"] = row["passed"] == row["cases"]
    return [rows[t] for t in sorted(rows)]


def _failures(doc: dict) -> list[dict]:
    cases = {case["id"]: case for case in doc["cases"]}
    found = []
    for failure in divergence.failures(doc):
        case = cases.get(failure["case"]["id"], failure["case"])
        div = failure["divergence"] or {}
        found.append({**failure, "suite": doc["suite"].get("name"), "case_id": case["id"],
                      "prompt": case.get("prompt"), "reference_text": case.get("text"),
                      "label": failure["run"]["label"] if failure["run"] else "golden",
                      "run_kind": failure["run"].get("kind") if failure["run"] else "golden file",
                      "details": (divergence.detail_lines(div) if div else []) + batching.lines(failure["run"]),
                      "batch": batching.run_view(failure["run"]),
                      "reason_text": divergence.REASONS.get(div.get("reason"), ""),
                      "expected_top": div.get("expected_top") or [], "actual_top": div.get("actual_top") or [],
                      # a harness path that does not name tokens writes "" for every candidate's text
                      "top_texts": {side: any(c.get("text") for c in div.get(f"{side}_top") or [])
                                    for side in ("expected", "actual")}})
    return found


def _timing(doc: dict) -> dict:
    by_kind = {}
    for case in doc["cases"]:
        for run in case["runs"]:
            if "duration_s" in run:
                by_kind.setdefault(run.get("kind", "?"), []).append(measured(run["duration_s"]))
    rows = [(case["id"], measured((case.get("reference") or {}).get("duration_s")), case["passed"])
            for case in doc["cases"]]
    timed = [(len(case.get("output_ids", [])), row[1]) for case, row in zip(doc["cases"], rows) if row[1] is not None]
    tokens = sum(len(case.get("output_ids", [])) for case in doc["cases"])
    seconds = sum(s for _, s in timed)
    # A sweep's "generation" is one prefill per cell: tokens per second mean nothing there.
    generates = check_of(doc) != "sweep"
    chart = svg.timing_bars(rows) if generates else ""
    kinds = []
    for kind, values in by_kind.items():
        times = [v for v in values if v is not None]
        kinds.append({"kind": kind, "runs": len(values), "untimed": len(values) - len(times),
                      "mean_s": sum(times) / len(times) if times else None, "max_s": max(times, default=None)})
    return {"suite": doc["suite"].get("name"), "check": check_of(doc), "duration_s": doc.get("duration_s"),
            "kinds": kinds, "tokens": tokens if generates else None,
            "tokens_per_s": sum(n for n, _ in timed) / seconds if generates and seconds > 0 else None,
            "chart": Markup(chart)}


def _environments(inputs: Inputs) -> list[dict]:
    seen, out = {}, []
    for doc in inputs.results + inputs.compares:
        env = dict(doc.get("environment") or {})
        model = doc.get("model") or {}
        key = tuple(sorted((k, str(v)) for k, v in env.items() if k != "mode")) + (model.get("file_sha256"),)
        if key in seen:
            seen[key]["used_by"].append(doc.get("suite", {}).get("name") or "compare")
            continue
        entry = {"environment": env, "model": model, "tool": doc.get("tool"),
                 "used_by": [doc.get("suite", {}).get("name") or "compare"]}
        seen[key] = entry
        out.append(entry)
    return out


def _batching(doc: dict) -> dict | None:
    """The summary's co-batching panel of one results.json: its batch-size histogram, the batch rounds
    that ran and how many runs shared engine steps; None for a file without batch data (an older one)."""
    if not batching.has_batch_data(doc):
        return None
    hist = batching.histogram(doc)
    return {"histogram": hist, "rounds": batching.rounds(doc), "runs": batching.cobatched_runs(doc),
            "largest": batching.largest(doc), "tokens": sum(tokens for _, tokens in hist),
            "chart": Markup(svg.batch_sizes(hist))}


def view(inputs: Inputs, title: str | None = None) -> dict:
    runs = []
    for doc in inputs.results:
        golden = doc.get("golden")
        runs.append({"suite": doc["suite"].get("name"), "path": doc["_path"], "check": check_of(doc),
                     "verdict": doc["verdict"], "counts": doc["counts"], "mode": doc["environment"].get("mode"),
                     "started_at": doc.get("started_at"), "settings": doc.get("settings") or {},
                     "batching": _batching(doc),
                     "golden": golden and {"path": golden.get("path"), "level": golden.get("level"),
                                           "verdict": golden.get("verdict"), "written": golden.get("written"),
                                           "cases": len(golden.get("cases", [])),
                                           "failed": sum(1 for c in golden.get("cases", []) if not c["match"])}})
    sweeps = [{"suite": doc["suite"].get("name"), "mode": doc["environment"].get("mode"), "verdict": doc["verdict"],
               "failed": doc["counts"]["comparisons_failed"], "cells": doc["counts"]["comparisons"],
               "chart": Markup(svg.heatmap(doc))} for doc in inputs.results if check_of(doc) == "sweep"]
    compares = [{"verdict": doc["verdict"], "settings": doc.get("settings") or {}, "target_ids": doc.get("target_ids"),
                 "modes": {name: mode["unique_outputs"] for name, mode in doc["modes"].items()},
                 "output": compare_output(doc),
                 "chart": Markup(svg.histogram(doc))} for doc in inputs.compares]
    failures = [f for doc in inputs.results for f in _failures(doc)]
    for i, failure in enumerate(failures, 1):
        failure["index"] = i
    return {"title": title or "lockstep determinism report", "verdict": inputs.verdict,
            "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "runs": runs, "tiers": _tiers(inputs.results), "sweeps": sweeps, "compares": compares,
            "failures": failures[:FULL_FAILURES], "more_failures": failures[FULL_FAILURES:],
            "failure_count": len(failures), "timings": [_timing(doc) for doc in inputs.results],
            "environments": _environments(inputs)}


def render_html(inputs: Inputs, title: str | None = None) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["seconds"] = lambda v: "–" if measured(v) is None else (f"{v:.2f} s" if v >= 0.01 else f"{v * 1e3:.3f} ms")
    env.filters["rate"] = lambda v: "–" if v is None else f"{v:.1f}"
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return env.get_template("report.html.j2").render(css=Markup(css), **view(inputs, title))

"""The self-contained HTML report: one file, inline CSS and SVG, no scripts, no network.

`view(inputs)` turns the documents into what the template shows; `render_html` fills
templates/report.html.j2 with it.
"""
from __future__ import annotations

import datetime
import pathlib

import jinja2
from markupsafe import Markup

from reports import divergence, svg
from reports.load import Inputs

TEMPLATES = pathlib.Path(__file__).resolve().parent / "templates"

# harness/suite.cpp tier_name(): the eight tiers of suites/tiers.json.
TIER_NAMES = {1: "sanity", 2: "long output", 3: "uncertain / creative", 4: "complex code", 5: "reasoning",
              6: "deep context", 7: "adversarial near-ties", 8: "edge cases"}
FULL_FAILURES = 25   # shown with both sides; the rest as table rows (a stress run can fail 2000 times)
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
            row["seconds"] += float((case.get("reference") or {}).get("duration_s") or 0.0)
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
                      "details": divergence.detail_lines(div) if div else [],
                      "reason_text": divergence.REASONS.get(div.get("reason"), ""),
                      "expected_top": div.get("expected_top") or [], "actual_top": div.get("actual_top") or []})
    return found


def _timing(doc: dict) -> dict:
    by_kind = {}
    for case in doc["cases"]:
        for run in case["runs"]:
            if run.get("duration_s") is not None:
                by_kind.setdefault(run.get("kind", "?"), []).append(float(run["duration_s"]))
    rows = [(case["id"], float((case.get("reference") or {}).get("duration_s") or 0.0), case["passed"])
            for case in doc["cases"]]
    tokens = sum(len(case.get("output_ids", [])) for case in doc["cases"])
    seconds = sum(r[1] for r in rows)
    # A sweep's "generation" is one prefill per cell: tokens per second mean nothing there.
    generates = check_of(doc) != "sweep"
    chart = svg.timing_bars(rows[:40]) if generates else ""
    return {"suite": doc["suite"].get("name"), "check": check_of(doc), "duration_s": doc.get("duration_s"),
            "kinds": [{"kind": k, "runs": len(v), "mean_s": sum(v) / len(v), "max_s": max(v)} for k, v in by_kind.items()],
            "tokens": tokens if generates else None,
            "tokens_per_s": tokens / seconds if generates and seconds > 0 else None, "chart": Markup(chart)}


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


def view(inputs: Inputs, title: str | None = None) -> dict:
    runs = []
    for doc in inputs.results:
        golden = doc.get("golden")
        runs.append({"suite": doc["suite"].get("name"), "path": doc["_path"], "check": check_of(doc),
                     "verdict": doc["verdict"], "counts": doc["counts"], "mode": doc["environment"].get("mode"),
                     "started_at": doc.get("started_at"), "settings": doc.get("settings") or {},
                     "golden": golden and {"path": golden.get("path"), "level": golden.get("level"),
                                           "verdict": golden.get("verdict"), "written": golden.get("written"),
                                           "cases": len(golden.get("cases", [])),
                                           "failed": sum(1 for c in golden.get("cases", []) if not c["match"])}})
    sweeps = [{"suite": doc["suite"].get("name"), "mode": doc["environment"].get("mode"), "verdict": doc["verdict"],
               "failed": doc["counts"]["comparisons_failed"], "cells": doc["counts"]["comparisons"],
               "chart": Markup(svg.heatmap(doc))} for doc in inputs.results if check_of(doc) == "sweep"]
    compares = [{"verdict": doc["verdict"], "settings": doc.get("settings") or {}, "target_ids": doc.get("target_ids"),
                 "modes": {name: mode["unique_outputs"] for name, mode in doc["modes"].items()},
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
    env.filters["seconds"] = lambda v: "–" if v is None else (f"{v:.2f} s" if v >= 0.01 else f"{v * 1e3:.3f} ms")
    env.filters["rate"] = lambda v: "–" if v is None else f"{v:.1f}"
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return env.get_template("report.html.j2").render(css=Markup(css), **view(inputs, title))

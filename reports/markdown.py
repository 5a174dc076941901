"""The Markdown job summary (GitHub's $GITHUB_STEP_SUMMARY): verdict, a table per result file, one
line on co-batching (when results.json has batch data), the first failures, the compare counts. Short
on purpose: the HTML report has the rest."""
from __future__ import annotations

import html

from reports import batching, divergence
from reports.html import check_of
from reports.load import Inputs

MAX_FAILURES = 10


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(text) -> str:
    """Inline code that survives any content: backticks, pipes and emphasis marks as entities."""
    escaped = html.escape(str(text).replace("\n", " "), quote=False)
    for char, entity in (("`", "&#96;"), ("|", "&#124;"), ("*", "&#42;"), ("_", "&#95;"), ("[", "&#91;")):
        escaped = escaped.replace(char, entity)
    return f"<code>{escaped}</code>"


def summary_markdown(inputs: Inputs, title: str = "lockstep", links: dict | None = None) -> str:
    mark = "✅" if inputs.verdict == "pass" else "❌"
    lines = [f"## {mark} {title}: {inputs.verdict.upper()}", ""]
    if inputs.results:
        lines += ["| suite | check | mode | verdict | cases reproduced | comparisons differ | golden |",
                  "|---|---|---|---|---:|---:|---|"]
        for doc in inputs.results:
            counts, golden = doc["counts"], doc.get("golden")
            if golden is None:
                golden_cell = "–"
            elif golden.get("written"):
                golden_cell = f"written: `{_cell(golden.get('path'))}`"
            else:
                failed = sum(1 for c in golden["cases"] if not c["match"])
                golden_cell = f"{golden.get('verdict')} ({golden.get('level')}, {failed} of {len(golden['cases'])} differ)"
            lines.append(f"| {_cell(doc['suite'].get('name'))} | {check_of(doc)} | {doc['environment'].get('mode', '–')} | "
                         f"{'✅' if doc['verdict'] == 'pass' else '❌'} {doc['verdict']} | "
                         f"{counts['cases_passed']}/{counts['cases']} | "
                         f"{counts['comparisons_failed']}/{counts['comparisons']} | {golden_cell} |")
        lines.append("")
        cobatching = batching.summary_line(inputs.results)
        if cobatching:
            lines += [f"**co-batching:** {cobatching}", ""]
    for doc in inputs.compares:
        modes = ", ".join(f"{name}: {m['unique_outputs']}" for name, m in doc["modes"].items())
        lines += [f"**compare** ({doc.get('settings', {}).get('runs')} co-batched runs): unique outputs {modes} "
                  f"— {'✅' if doc['verdict'] == 'pass' else '❌'} {doc['verdict']}", ""]
    failures = [f for doc in inputs.results for f in divergence.failures(doc)]
    if failures:
        lines += [f"### First divergences ({min(len(failures), MAX_FAILURES)} of {len(failures)})", ""]
        lines += [f"- {_code(f['message'])}" for f in failures[:MAX_FAILURES]]
        lines.append("")
    for name, path in (links or {}).items():
        lines.append(f"- {name}: {_code(path)}")
    return "\n".join(lines).rstrip() + "\n"

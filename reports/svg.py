"""Inline SVG charts for the HTML report: the sweep heatmap, the compare histogram, timing bars.

Plain strings, no JavaScript and no external fonts: the report must render the same offline and in
a CI artifact viewer. Every shape carries a <title> so hovering shows the exact value.
"""
from __future__ import annotations

from html import escape

PASS = "#1a7f37"
FAIL = "#cf222e"
INK = "#1f2328"
MUTED = "#656d76"
GRID = "#d0d7de"
BAR = "#0969da"
BAR_OFF = "#bc4c00"
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"'


def _text(x, y, text, size=12, anchor="middle", fill=INK, weight="normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}">{escape(str(text))}</text>')


def _svg(width, height, body, label) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(label)}" {FONT}>'
            f'<title>{escape(label)}</title>{"".join(body)}</svg>')


def sweep_grid(doc: dict) -> dict:
    """{lengths: [L...], batches: [B...], cells: {(L, B): run}} of a sweep's results.json."""
    lengths, batches, cells = [], [], {}
    for case in doc["cases"]:
        cid = case["id"]
        if cid.startswith("len-"):
            length = int(cid.split("-", 1)[1])
        elif cid.startswith("decode-len-"):   # the same length, decoded through the engine
            length = f'{cid.rsplit("-", 1)[1]} decode'
        else:
            length = cid
        lengths.append(length)
        for run in case["runs"]:
            batch = int(run["label"].split("-", 1)[1]) if run["label"].startswith("batch-") else run["label"]
            if batch not in batches:
                batches.append(batch)
            cells[(length, batch)] = run
    return {"lengths": lengths, "batches": batches, "cells": cells}


def heatmap(doc: dict) -> str:
    """Batch size (columns) x prompt length (rows); a cell is green when the target's prefill logits in
    that batch are bitwise equal to its solo run, red when they differ; rows "L decode" are the target's
    decoding through the batching engine."""
    grid = sweep_grid(doc)
    cell, left, top = 44, 86, 46
    width = left + cell * len(grid["batches"]) + 16
    height = top + cell * len(grid["lengths"]) + 40
    body = [_text(left + cell * len(grid["batches"]) / 2, 16, "batch size", 12, fill=MUTED),
            _text(14, top + cell * len(grid["lengths"]) / 2, "prompt length", 12, fill=MUTED)]
    body[-1] = body[-1].replace("<text ", f'<text transform="rotate(-90 14 {top + cell * len(grid["lengths"]) / 2:.1f})" ', 1)
    for j, batch in enumerate(grid["batches"]):
        body.append(_text(left + cell * j + cell / 2, top - 10, batch, 12, weight="600"))
    for i, length in enumerate(grid["lengths"]):
        body.append(_text(left - 10, top + cell * i + cell / 2 + 4, length, 12, "end", weight="600"))
        for j, batch in enumerate(grid["batches"]):
            run = grid["cells"].get((length, batch))
            x, y = left + cell * j, top + cell * i
            if run is None:
                body.append(f'<rect x="{x + 2}" y="{y + 2}" width="{cell - 4}" height="{cell - 4}" rx="5" fill="#f6f8fa" '
                            f'stroke="{GRID}"><title>not run</title></rect>')
                continue
            same = run["match"]
            div = run.get("first_divergence") or {}
            tip = (f"length {length}, batch {batch}: " +
                   ("bitwise equal to the solo run" if same else
                    f"differs: sha256 {str(div.get('actual_sha256', ''))[:16]} vs solo {str(div.get('expected_sha256', ''))[:16]}"))
            body.append(f'<g class="cell {"same" if same else "differs"}"><rect x="{x + 2}" y="{y + 2}" width="{cell - 4}" '
                        f'height="{cell - 4}" rx="5" fill="{PASS if same else FAIL}" fill-opacity="{0.85 if same else 0.9}">'
                        f'<title>{escape(tip)}</title></rect>'
                        + _text(x + cell / 2, y + cell / 2 + 5, "=" if same else "≠", 16, fill="#ffffff", weight="700")
                        + "</g>")
    legend_y = top + cell * len(grid["lengths"]) + 22
    body += [f'<rect x="{left}" y="{legend_y - 10}" width="12" height="12" rx="3" fill="{PASS}"/>',
             _text(left + 18, legend_y, "same bits as solo", 11, "start", MUTED),
             f'<rect x="{left + 130}" y="{legend_y - 10}" width="12" height="12" rx="3" fill="{FAIL}"/>',
             _text(left + 148, legend_y, "differs", 11, "start", MUTED)]
    width = max(width, left + 210)
    return _svg(width, height, body, f"sweep heatmap, mode {doc['environment'].get('mode', '?')}")


def histogram(doc: dict) -> str:
    """One panel per mode: a bar per distinct output (its digest: of the decoded tokens and their logits,
    or of the prefill logits with --decode-tokens 0; the report's caption says which), its height the
    number of co-batched runs that produced it. Deterministic inference is a single bar."""
    modes = list(doc["modes"].items())
    runs = max((h["runs"] for _, m in modes for h in m["histogram"]), default=1)
    panel_w, panel_h, gap, top, bottom = 300, 150, 36, 34, 46
    body = []
    for p, (name, mode) in enumerate(modes):
        x0 = 40 + p * (panel_w + gap)
        color = BAR if name == "batch_invariant" else BAR_OFF
        body.append(_text(x0 + panel_w / 2, 18, f"{name}: {mode['unique_outputs']} unique output"
                          f"{'' if mode['unique_outputs'] == 1 else 's'}", 13, weight="600"))
        body.append(f'<line x1="{x0}" y1="{top + panel_h}" x2="{x0 + panel_w}" y2="{top + panel_h}" stroke="{GRID}"/>')
        for tick in sorted({0, runs, (runs + 1) // 2}):
            y = top + panel_h - panel_h * tick / runs
            body.append(_text(x0 - 6, y + 4, tick, 10, "end", MUTED))
            body.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + panel_w}" y2="{y:.1f}" stroke="{GRID}" '
                        f'stroke-dasharray="2 3" stroke-width="0.7"/>')
        bars = mode["histogram"]
        slot = panel_w / max(len(bars), 1)
        bar_w = min(slot * 0.7, 48)
        for k, bar in enumerate(bars):
            h = panel_h * bar["runs"] / runs
            x = x0 + slot * k + (slot - bar_w) / 2
            tip = f"{bar['runs']} run{'s' if bar['runs'] != 1 else ''}: output sha256 {bar['logits_sha256']}"
            body.append(f'<rect class="bar" x="{x:.1f}" y="{top + panel_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                        f'rx="3" fill="{color}"><title>{escape(tip)}</title></rect>')
            body.append(_text(x + bar_w / 2, top + panel_h - h - 4, bar["runs"], 10, fill=INK))
            if len(bars) <= 12:
                body.append(_text(x + bar_w / 2, top + panel_h + 14, bar["logits_sha256"][:6], 9, fill=MUTED))
        body.append(_text(x0 + panel_w / 2, top + panel_h + 32, "distinct outputs (sha256)", 10, fill=MUTED))
    width = 40 + len(modes) * (panel_w + gap)
    return _svg(width, top + panel_h + bottom, body, "unique outputs of one request over co-batched runs")


def timing_bars(rows: list[tuple[str, float | None, bool]], unit="s") -> str:
    """Horizontal bars: (label, seconds, passed) per row, every row; seconds None: not measured, no bar."""
    if not rows:
        return ""
    longest = max((v for _, v, _ in rows if v is not None), default=0.0) or 1.0
    left, bar_max, row_h = 170, 380, 22
    body = []
    for i, (label, value, passed) in enumerate(rows):
        y = 8 + i * row_h
        shown = label if len(label) <= 24 else label[:23] + "…"
        body.append(_text(left - 8, y + 13, shown, 11, "end"))
        if value is None:
            body.append(_text(left + 6, y + 13, "– (not measured)", 10, "start", MUTED))
            continue
        w = max(bar_max * value / longest, 1.5)
        body.append(f'<rect class="timing" x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" rx="3" '
                    f'fill="{BAR if passed else FAIL}"><title>{escape(label)}: {value:.3f} {unit}</title></rect>')
        body.append(_text(left + w + 6, y + 13, f"{value:.2f} {unit}", 10, "start", MUTED))
    return _svg(left + bar_max + 70, 16 + row_h * len(rows), body, "generation time per case")


def batch_sizes(hist: list[tuple[int, int]]) -> str:
    """The batch-size histogram of a results.json (`batch_sizes`): a bar per batch size, its height the
    case tokens decoded in an engine step of that many sequences. Bars of size 1 (alone) are grey: only
    the others show co-batching."""
    if not hist:
        return ""
    most = max((tokens for _, tokens in hist), default=0) or 1
    left, top, plot_h, slot = 52, 20, 120, 40
    bar_w = 26
    width = left + slot * len(hist) + 16
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + slot * len(hist)}" y2="{top + plot_h}" stroke="{GRID}"/>']
    for tick in sorted({0, most, (most + 1) // 2}):
        y = top + plot_h - plot_h * tick / most
        body.append(_text(left - 6, y + 4, tick, 10, "end", MUTED))
    for k, (size, tokens) in enumerate(hist):
        h = plot_h * tokens / most
        x = left + slot * k + (slot - bar_w) / 2
        tip = f"batch of {size}: {tokens} case token{'' if tokens == 1 else 's'}"
        body.append(f'<rect class="batch-size" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w}" height="{h:.1f}" '
                    f'rx="3" fill="{MUTED if size == 1 else BAR}"><title>{escape(tip)}</title></rect>')
        body.append(_text(x + bar_w / 2, top + plot_h - h - 4, tokens, 10))
        body.append(_text(x + bar_w / 2, top + plot_h + 14, size, 11, weight="600"))
    body.append(_text(left + slot * len(hist) / 2, top + plot_h + 32, "batch size (sequences in the engine step)", 10,
                      fill=MUTED))
    width = max(width, left + 260)
    return _svg(width, top + plot_h + 40, body, "case tokens decoded per batch size")

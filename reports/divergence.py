"""One wording for a divergence, shared by the HTML report and the job summary (the JUnit writer,
harness/results/junit.cpp, words it alike).

A divergence is the `first_divergence` object of results.json (harness/RESULTS.md): the step where
a run (or the golden file) first departs from the reference, why, both digests and both tokens.
"""
from __future__ import annotations

from reports import batching

REASONS = {
    "logits": "the step's logits digest differs",
    "token": "same logits digest, other token",
    "length": "one side stopped earlier",
    "prompt": "different input ids",
    "ids_sha256": "every step equal but the output-ids digest differs",
}


def short(digest: str | None) -> str:
    return digest[:16] if digest else "(none)"


def token_text(token, text) -> str:
    if token is None:
        return "no token"
    return f'{token} "{text}"' if text else str(token)


def describe(div: dict) -> str:
    """"step 3: logits sha256 4489a1466fda4364 expected, b4799b40e332dfaa actual; token 504 "The"
    expected, 504 "The" actual" - the harness's own wording, so messages read alike everywhere."""
    step = div.get("step", 0)
    reason = div.get("reason", "logits")
    expected = token_text(div.get("expected_token"), div.get("expected_text"))
    actual = token_text(div.get("actual_token"), div.get("actual_text"))
    if reason == "prompt":
        return f"step {step}: different input ids (prompt)"
    digest = "ids sha256" if reason == "ids_sha256" else "logits sha256"
    return (f"step {step}: {digest} {short(div.get('expected_sha256'))} expected, "
            f"{short(div.get('actual_sha256'))} actual; token {expected} expected, {actual} actual")


def _differs(head: str, other: str, div: dict | None, where: str = "") -> str:
    """"<head> differs from <other>[<where>] at <the divergence>" (no "at ..." without one)."""
    return f"{head} differs from {other}{where}" + (f" at {describe(div)}" if div is not None else "")


def run_message(case: dict, run: dict, reference: str = "run-1") -> str:
    """The failure message of one compared run: names the case, the run, the batch it decoded in when it
    shared engine steps with others (" in a batch of 8 (row 3)", at the divergent step) and the first
    divergence."""
    head = f"case '{case['id']}' {run['label']}"
    if run.get("error"):
        return f"{head} produced no record: {run['error']}"
    message = _differs(head, reference, run.get("first_divergence"), batching.where(run))
    activation = run.get("first_divergent_activation") or {}
    if activation.get("found"):
        message += f"; {activation['what']}"
    return message


def golden_message(case: dict, golden_path: str) -> str:
    head = f"case '{case['id']}'"
    if case.get("note"):
        return f"{head} {case['note']} (golden file {golden_path})"
    return _differs(head, f"the golden file {golden_path}", case.get("first_divergence"))


def detail_lines(div: dict | None) -> list[str]:
    """Every field of a divergence, one per line (a JUnit failure body, a <pre> block)."""
    if not div:
        return []
    lines = [f"reason: {div.get('reason')} ({REASONS.get(div.get('reason'), 'unknown')})",
             f"step: {div.get('step')}",
             f"expected sha256: {div.get('expected_sha256') or '(none)'}",
             f"actual sha256:   {div.get('actual_sha256') or '(none)'}",
             f"expected token: {token_text(div.get('expected_token'), div.get('expected_text'))}",
             f"actual token:   {token_text(div.get('actual_token'), div.get('actual_text'))}"]
    for side in ("expected", "actual"):
        top = div.get(f"{side}_top")
        if top:
            shown = ", ".join(f"{token_text(c.get('id'), c.get('text'))} {c.get('logit')}" for c in top)
            lines.append(f"{side} top candidates: {shown}")
    return lines


def failures(doc: dict) -> list[dict]:
    """Every failing check of one results.json, in file order: compared runs first, then golden cases.
    Each: {kind: "run"|"golden", case, run (or None), divergence, message, error}."""
    found = []
    for case in doc["cases"]:
        reference = (case.get("reference") or {}).get("label", "run-1")
        for run in case["runs"]:
            if not run["match"]:
                found.append({"kind": "run", "case": case, "run": run, "divergence": run.get("first_divergence"),
                              "message": run_message(case, run, reference), "error": run.get("error")})
    golden = doc.get("golden") or {}
    for case in golden.get("cases", []):
        if not case["match"]:
            found.append({"kind": "golden", "case": case, "run": None, "divergence": case.get("first_divergence"),
                          "message": golden_message(case, golden.get("path", "")), "error": None})
    return found

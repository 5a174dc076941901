"""Where a run decoded through the batching engine with other requests, in one wording for the HTML
report and the job summary (the JUnit writer, harness/results/junit.cpp, words it alike).

results.json (harness/RESULTS.md) gives a run that shared engine steps a `batch` object: `sizes` and
`rows` per generated token (sequences in that engine step, the case's row), `joined_running`,
`joined_by_others` and `neighbours` (stress runs: sizes and rows only); the top level has
`settings.batch_rounds` and `batch_sizes` (batch size -> case tokens decoded in a batch of that size).
Files from before batch plans have none of these: every helper here then returns None / [] / "".
A run that went through the engine alone (every size 1, no neighbours) is not co-batched: its place
is not named in messages.
"""
from __future__ import annotations


def batch_of(run: dict | None) -> dict | None:
    batch = (run or {}).get("batch")
    return batch if isinstance(batch, dict) else None


def cobatched(run: dict | None) -> bool:
    """Whether the run shared at least one engine step with another request."""
    batch = batch_of(run)
    if batch is None:
        return False
    return bool(batch.get("neighbours")) or any(size > 1 for size in batch.get("sizes") or [])


def place(run: dict | None) -> dict | None:
    """{step, size, row} of a co-batched run's first divergent step; None for a solo run, a run without
    a divergence, or a step past the recorded ones (a "length" divergence: one side stopped earlier)."""
    if not cobatched(run):
        return None
    div = run.get("first_divergence")
    if not div:
        return None
    step = div.get("step")
    sizes, rows = run["batch"].get("sizes") or [], run["batch"].get("rows") or []
    if not isinstance(step, int) or not 0 <= step < len(sizes):
        return None
    return {"step": step, "size": sizes[step], "row": rows[step] if step < len(rows) else None}


def where(run: dict | None) -> str:
    """" in a batch of 8 (row 3)": the harness's wording (harness/results/junit.cpp, verify's progress)."""
    at = place(run)
    if at is None:
        return ""
    return f" in a batch of {at['size']}" + ("" if at["row"] is None else f" (row {at['row']})")


def steps_text(steps) -> str:
    if isinstance(steps, list) and len(steps) == 2:
        return f"{steps[0]}..{steps[1]}"
    return str(steps)


def neighbour_text(n: dict) -> str:
    return (f"{n.get('request')}, prompt {n.get('prompt_tokens')} tokens, {n.get('new_tokens')} new tokens, "
            f"{n.get('sampling')}, steps {steps_text(n.get('steps'))}")


def shares_step(n: dict, step: int | None) -> bool:
    """Whether a neighbour was in the engine step of the case's token `step` (steps are counted from the
    case's first token, [first, last] inclusive)."""
    steps = n.get("steps")
    return (step is not None and isinstance(steps, list) and len(steps) == 2
            and all(isinstance(s, int) for s in steps) and steps[0] <= step <= steps[1])


def lines(run: dict | None) -> list[str]:
    """The batch of a co-batched run, one fact a line (a JUnit failure body, a <pre> block)."""
    if not cobatched(run):
        return []
    batch = run["batch"]
    out = []
    at = place(run)
    if at is not None:
        out.append(f"divergent step {at['step']}: batch of {at['size']}, row {at['row']}")
    out += [f"batch sizes per step: {' '.join(map(str, batch.get('sizes') or []))}",
            f"rows per step: {' '.join(map(str, batch.get('rows') or []))}"]
    if "joined_running" in batch or "joined_by_others" in batch:
        out.append(f"joined a running batch: {'yes' if batch.get('joined_running') else 'no'}; "
                   f"joined by others while decoding: {'yes' if batch.get('joined_by_others') else 'no'}")
    for n in batch.get("neighbours") or []:
        out.append(f"neighbour: {neighbour_text(n)}")
    if (activation := activation_line(run)) is not None:
        out.append(activation)
    return out


def activation_line(run: dict | None) -> str | None:
    """The localisation of a failing co-batched run (`first_divergent_activation`): which layer and op first
    differed solo and in the batch, or why none was named; None when it was not re-run."""
    found = (run or {}).get("first_divergent_activation")
    return found.get("what") if isinstance(found, dict) else None


def run_view(run: dict | None) -> dict | None:
    """What the HTML report shows of a failing co-batched run's batch; None when there is nothing."""
    if not cobatched(run):
        return None
    batch = run["batch"]
    at = place(run)
    div = run.get("first_divergence") or {}
    step = at["step"] if at else div.get("step")
    neighbours = [{"request": n.get("request"), "prompt_tokens": n.get("prompt_tokens"),
                   "new_tokens": n.get("new_tokens"), "sampling": n.get("sampling"),
                   "steps": steps_text(n.get("steps")), "at_step": shares_step(n, step if at else None)}
                  for n in batch.get("neighbours") or []]
    return {"step": step, "size": at["size"] if at else None, "row": at["row"] if at else None,
            "sizes": " ".join(map(str, batch.get("sizes") or [])), "rows": " ".join(map(str, batch.get("rows") or [])),
            "steps_recorded": len(batch.get("sizes") or []),
            "has_joins": "joined_running" in batch or "joined_by_others" in batch,
            "joined_running": bool(batch.get("joined_running")), "joined_by_others": bool(batch.get("joined_by_others")),
            "has_neighbours": "neighbours" in batch, "neighbours": neighbours,
            "activation": activation_line(run),
            "activation_found": bool((run.get("first_divergent_activation") or {}).get("found")),
            "at_step": sum(1 for n in neighbours if n["at_step"])}


def histogram(doc: dict) -> list[tuple[int, int]]:
    """[(batch size, case tokens)] of one results.json, by size; [] when it has no batch_sizes (an older
    file) or an empty one (a check that decoded nothing through the engine)."""
    sizes = doc.get("batch_sizes")
    if not isinstance(sizes, dict):
        return []
    return sorted((int(size), int(tokens)) for size, tokens in sizes.items())


def rounds(doc: dict) -> list[str]:
    found = (doc.get("settings") or {}).get("batch_rounds")
    return [str(r) for r in found] if isinstance(found, list) else []


def cobatched_runs(doc: dict) -> int:
    return sum(1 for case in doc["cases"] for run in case["runs"] if cobatched(run))


def has_batch_data(doc: dict) -> bool:
    return bool(histogram(doc) or rounds(doc) or any(batch_of(run) for case in doc["cases"] for run in case["runs"]))


def largest(doc: dict) -> int | None:
    """The largest batch any run of the file decoded in: from batch_sizes, else from the runs' sizes."""
    sizes = [size for size, tokens in histogram(doc) if tokens > 0]
    sizes += [size for case in doc["cases"] for run in case["runs"] for size in (batch_of(run) or {}).get("sizes") or []]
    return max(sizes, default=None)


def summary_line(docs: list[dict]) -> str:
    """One sentence over every results file with batch data ("" when none has any): how many runs were
    co-batched, the largest batch reached and the tokens per batch size."""
    docs = [doc for doc in docs if has_batch_data(doc)]
    if not docs:
        return ""
    runs = sum(cobatched_runs(doc) for doc in docs)
    biggest = max((size for size in map(largest, docs) if size is not None), default=None)
    merged: dict[int, int] = {}
    for doc in docs:
        for size, tokens in histogram(doc):
            merged[size] = merged.get(size, 0) + tokens
    shown = ", ".join(f"{size}: {tokens}" for size, tokens in sorted(merged.items()))
    tail = f" (case tokens per batch size: {shown})" if shown else ""
    if runs == 0:
        return f"no co-batched runs: every case token was decoded alone (largest batch {biggest or 1}){tail}"
    return (f"{runs} co-batched run{'' if runs == 1 else 's'} (decoded in one engine step with other requests), "
            f"largest batch {biggest}{tail}")

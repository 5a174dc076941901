"""Which aten ops lockstep's kernels cover, and which ops a model actually runs.

The list and the classes come from the library (kernels/coverage.h), the same that
`lockstep scan` uses: invariant (lockstep's kernel replaces this overload), composite
(decomposes into ops listed themselves), exact (one correctly rounded operation per element, or
data movement) and uncovered (anything else: its bits may depend on the batch).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, List

from ._library import ops

_RANK = {"uncovered": 0, "invariant": 1, "composite": 2, "exact": 3}


def covered_ops() -> List[str]:
    """The aten overloads lockstep replaces, as "aten::name[.overload]"."""
    return [f"aten::{name}" for name in ops().covered_overloads()]


def classify(op: str) -> "tuple[str, str]":
    """(coverage, note) for an op name such as "aten::mm" or "aten::sum.dim_IntList"."""
    coverage, note = ops().classify(op)
    return coverage, note


@dataclasses.dataclass(frozen=True)
class ScannedOp:
    op: str
    calls: int
    coverage: str
    note: str


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """What check() saw: every op the function ran, uncovered ones first."""

    ops: List[ScannedOp]
    result: Any

    @property
    def uncovered(self) -> List[ScannedOp]:
        return [op for op in self.ops if op.coverage == "uncovered"]

    @property
    def covered(self) -> bool:
        """True when every op the function ran is invariant, composite or exact."""
        return not self.uncovered

    def __str__(self) -> str:
        verdict = "covered" if self.covered else f"{len(self.uncovered)} uncovered op(s)"
        lines = [f"lockstep_kernels.check: {verdict}"]
        for op in self.ops:
            note = f"  {op.note}" if op.note else ""
            lines.append(f"  {op.coverage:<10} {op.calls:>6}  {op.op}{note}")
        return "\n".join(lines)


def check(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> CheckReport:
    """Runs fn(*args, **kwargs) once in batch_invariant mode, recording every aten op it calls
    (on any thread), and classifies them. The mode is restored afterwards.

        report = lk.check(model, input_ids)
        assert report.covered, str(report)
    """
    from . import batch_invariant

    lib = ops()
    with batch_invariant():
        lib.record_begin()
        try:
            result = fn(*args, **kwargs)
        finally:
            names, counts = lib.record_end()
    scanned = [ScannedOp(name, int(count), *classify(name)) for name, count in zip(names, counts)]
    scanned.sort(key=lambda op: (_RANK.get(op.coverage, 9), op.op))
    return CheckReport(scanned, result)

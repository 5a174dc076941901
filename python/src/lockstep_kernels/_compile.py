"""torch.compile under lockstep's modes: refused with a clear error, never silently stock.

Inductor does not call aten's kernels for most of what lockstep replaces: it decomposes softmax,
norms and attention into its own generated loops and reductions, whose order it picks from the
shapes it compiles for, so a compiled model would not be batch-invariant. While a mode other
than "off" is on, every inductor compilation therefore raises LockstepCompileError (through
inductor's pre-grad pass hook, which runs on every compilation, cached or not), and each mode
change resets dynamo's caches so that code compiled under another mode is compiled again (and
refused) instead of reused. Backends that run aten ops one by one (torch.compile(backend="eager"))
dispatch to lockstep's kernels and are allowed.
"""
from __future__ import annotations

import sys


class LockstepCompileError(RuntimeError):
    """torch.compile with inductor was asked for while a lockstep mode is on."""


def _refuse_under_mode(graph) -> None:
    from . import mode

    current = mode()
    if current != "off":
        raise LockstepCompileError(
            f"lockstep_kernels: torch.compile with inductor is not batch-invariant (inductor generates "
            f"its own reductions instead of calling lockstep's kernels), and the mode is '{current}'. "
            f"Run the model eagerly, use torch.compile(backend='eager'), or switch the mode off "
            f"(lockstep_kernels.disable_batch_invariant_mode()) to compile with stock kernels."
        )


class _Guard:
    """inductor's pre_grad_custom_pass: refuses under a mode, then runs any pass it replaced."""

    def __init__(self, previous):
        self.previous = previous

    def __call__(self, graph):
        _refuse_under_mode(graph)
        if self.previous is not None:
            self.previous(graph)


def install_guard() -> None:
    """Puts the guard in front of inductor's pre-grad pass (once; keeps a pass already set)."""
    import torch._inductor.config as inductor_config

    current = inductor_config.pre_grad_custom_pass
    if not isinstance(current, _Guard):
        inductor_config.pre_grad_custom_pass = _Guard(current)


def mode_changed() -> None:
    """Drops dynamo's compiled code, so nothing compiled under the old mode runs under the new."""
    if "torch._dynamo" in sys.modules:
        sys.modules["torch._dynamo"].reset()

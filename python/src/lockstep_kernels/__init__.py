"""lockstep's batch-invariant kernels for PyTorch.

The package's library (liblockstep_kernels.so) replaces aten's mm, addmm, bmm, softmax,
log_softmax, sum, mean, layer_norm, rms_norm, scaled_dot_product_attention and multinomial on the
CPU and on CUDA (and silu, sigmoid, rsqrt where their stock kernels round differently); covered_ops()
lists the exact overloads. While the mode is "off" those ops are bitwise the stock kernels; in
"batch_invariant" every output row's bits are independent of the batch it is computed in
(including seeded sampling: see kernels/sampling.h); "portable" computes fp32 with one defined
order and lockstep's own math, the same bits on x86 CPUs and NVIDIA GPUs. The mode is per
process (kernels/mode.h says why), so it also holds on libtorch's worker threads.

    import lockstep_kernels as lk
    with lk.batch_invariant():
        out = model.generate(**batch)

A drop-in for thinking-machines-lab's batch_invariant_ops: every name of its __all__ is here
and behaves the same (`import lockstep_kernels as batch_invariant_ops`). torch.compile with
inductor is refused while a mode is on (LockstepCompileError; _compile.py says why).
"""
from __future__ import annotations

import collections
import contextlib
from typing import Iterator, Optional

import torch

from . import _compile
from ._compile import LockstepCompileError
from ._coverage import CheckReport, ScannedOp, check, classify, covered_ops
from ._library import ENV_LIBRARY, check_torch_version, library_path, load, loaded_path, ops

__version__ = "0.1.0"

check_torch_version()

MODES = ("off", "batch_invariant", "portable")


def set_mode(name: str) -> None:
    """Switches every overridden op of the process: "off", "batch_invariant" or "portable"."""
    if name not in MODES:
        raise ValueError(f"unknown lockstep mode {name!r} (expected one of {', '.join(MODES)})")
    lib = ops()
    if name != "off":
        _compile.install_guard()
    if lib.get_mode() != name:
        lib.set_mode(name)
        _compile.mode_changed()


def mode() -> str:
    """The current mode's name."""
    return ops().get_mode()


@contextlib.contextmanager
def mode_scope(name: str) -> Iterator[None]:
    """Runs the block in mode `name` and restores the previous mode afterwards, also on an exception."""
    previous = mode()
    set_mode(name)
    try:
        yield
    finally:
        set_mode(previous)


def batch_invariant(enabled: bool = True):
    """Context manager: the block in batch_invariant mode (or off, with enabled=False)."""
    return mode_scope("batch_invariant" if enabled else "off")


def portable():
    """Context manager: the block in portable mode."""
    return mode_scope("portable")


# batch_invariant_ops' names.
set_batch_invariant_mode = batch_invariant


def enable_batch_invariant_mode() -> None:
    set_mode("batch_invariant")


def disable_batch_invariant_mode() -> None:
    set_mode("off")


def is_batch_invariant_mode_enabled() -> bool:
    return mode() == "batch_invariant"


def matmul_persistent(a: torch.Tensor, b: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """a @ b (+ bias, 1-D) with lockstep's batch-invariant GEMM, whatever the mode: a row's bits
    do not depend on the other rows of `a`. float32/bfloat16 (and float16 on CUDA)."""
    return ops().matmul_persistent(a, b, bias)


def log_softmax(input: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log_softmax over the last dimension with lockstep's batch-invariant kernel, whatever the mode."""
    if dim != -1 and dim != input.ndim - 1:
        raise ValueError("This implementation only supports log_softmax along the last dimension")
    return ops().log_softmax(input, -1)


def mean_dim(input: torch.Tensor, dim: int, keepdim: bool = False, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """torch.mean over one dimension with lockstep's batch-invariant kernel, whatever the mode.
    Integer inputs are averaged in float32 unless `dtype` says otherwise."""
    if not -input.ndim <= dim < input.ndim:
        raise ValueError(f"Invalid dimension {dim} for tensor with {input.ndim} dimensions")
    return ops().mean_dim(input, dim, keepdim, dtype)


AttentionBlockSize = collections.namedtuple("AttentionBlockSize", ["block_m", "block_n"])


def get_batch_invariant_attention_block_size() -> AttentionBlockSize:
    """The attention tile whose shape fixes the reduction order: lockstep reduces every query row
    on its own (block_m = 1: a row never depends on the rows beside it) over keys in splits of a
    fixed length at fixed boundaries (block_n, 256), whatever the batch."""
    return AttentionBlockSize(block_m=1, block_n=int(ops().kv_split()))


__all__ = [
    # batch_invariant_ops' names
    "set_batch_invariant_mode",
    "is_batch_invariant_mode_enabled",
    "disable_batch_invariant_mode",
    "enable_batch_invariant_mode",
    "matmul_persistent",
    "log_softmax",
    "mean_dim",
    "get_batch_invariant_attention_block_size",
    "AttentionBlockSize",
    # lockstep's own
    "MODES",
    "set_mode",
    "mode",
    "mode_scope",
    "batch_invariant",
    "portable",
    "covered_ops",
    "classify",
    "check",
    "CheckReport",
    "ScannedOp",
    "LockstepCompileError",
    "load",
    "loaded_path",
    "library_path",
    "ENV_LIBRARY",
]

"""lockstep's batch-invariant kernels for PyTorch users.

The shared library built at build/kernels/liblockstep_kernels.so overrides
aten's mm, addmm, bmm, softmax, log_softmax, sum, mean, layer_norm, rms_norm
and scaled_dot_product_attention on CPU (and CUDA when built with it), and
silu and sigmoid on the CPU (whose stock kernels round the tail of each
thread's chunk differently). While
the mode is "off" those ops are bitwise the stock kernels; in
"batch_invariant" every output row's bits are independent of the batch it is
computed in. The mode is per process (see kernels/mode.h for why), so it also
holds on libtorch's worker threads.

    import lockstep_kernels as lk
    with lk.batch_invariant():
        logits = model(input_ids)

A drop-in for thinking-machines-lab's batch_invariant_ops: the names
set_batch_invariant_mode(enabled=True) (a context manager),
enable_batch_invariant_mode(), disable_batch_invariant_mode() and
is_batch_invariant_mode_enabled() behave the same way.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
from typing import Iterator, Optional, Union

import torch

ENV_LIBRARY = "LOCKSTEP_KERNELS_LIB"
DEFAULT_LIBRARY = pathlib.Path(__file__).resolve().parents[2] / "build" / "kernels" / "liblockstep_kernels.so"
MODES = ("off", "batch_invariant")

_loaded: Optional[pathlib.Path] = None


def library_path(path: Union[str, os.PathLike, None] = None) -> pathlib.Path:
    """The library load() uses: `path`, else $LOCKSTEP_KERNELS_LIB, else the build tree's."""
    if path is not None:
        return pathlib.Path(path)
    if os.environ.get(ENV_LIBRARY):
        return pathlib.Path(os.environ[ENV_LIBRARY])
    return DEFAULT_LIBRARY


def load(path: Union[str, os.PathLike, None] = None) -> pathlib.Path:
    """Loads the kernels library into this process once; returns its path.

    A process can hold one copy of the aten overrides, so a second call naming
    another file is an error rather than a silent no-op.
    """
    global _loaded
    lib = library_path(path).resolve()
    if _loaded is not None:
        if lib != _loaded:
            raise RuntimeError(f"lockstep kernels already loaded from {_loaded}; cannot also load {lib}")
        return _loaded
    if not lib.is_file():
        raise FileNotFoundError(
            f"lockstep kernels library not found at {lib}: build the lockstep_kernels target "
            f"or set {ENV_LIBRARY}"
        )
    torch.ops.load_library(str(lib))
    _loaded = lib
    return lib


def set_mode(name: str) -> None:
    """Switches every overridden op of the process: "off" or "batch_invariant"."""
    load()
    torch.ops.lockstep.set_mode(name)


def mode() -> str:
    """The current mode's name."""
    load()
    return torch.ops.lockstep.get_mode()


@contextlib.contextmanager
def batch_invariant(enabled: bool = True) -> Iterator[None]:
    """Runs the block in batch_invariant mode (or off, with enabled=False) and
    restores the previous mode afterwards, also on an exception."""
    previous = mode()
    set_mode("batch_invariant" if enabled else "off")
    try:
        yield
    finally:
        set_mode(previous)


# batch_invariant_ops' names.
set_batch_invariant_mode = batch_invariant


def enable_batch_invariant_mode() -> None:
    set_mode("batch_invariant")


def disable_batch_invariant_mode() -> None:
    set_mode("off")


def is_batch_invariant_mode_enabled() -> bool:
    return mode() == "batch_invariant"

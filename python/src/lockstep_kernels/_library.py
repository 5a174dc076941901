"""Finding and loading liblockstep_kernels.so, once per process.

The library is looked for in this order: the path given to load(), $LOCKSTEP_KERNELS_LIB, the
copy installed inside this package (pip install / the wheel), and a checkout's build tree
(build/kernels/, when the package is imported from python/src). A copy installed with the
package was built against one torch version; importing it under another fails here, with both
versions named, instead of crashing inside the dispatcher.
"""
from __future__ import annotations

import os
import pathlib
from typing import Optional, Union

import torch

ENV_LIBRARY = "LOCKSTEP_KERNELS_LIB"
LIBRARY_NAME = "liblockstep_kernels.so"
PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
BUNDLED_LIBRARY = PACKAGE_DIR / LIBRARY_NAME
CHECKOUT_LIBRARY = PACKAGE_DIR.parents[2] / "build" / "kernels" / LIBRARY_NAME

_loaded: Optional[pathlib.Path] = None


def check_torch_version() -> None:
    """Raises ImportError when the bundled library was built against another torch."""
    try:
        from . import _build_info
    except ImportError:  # imported from the source tree: no wheel build record
        return
    if _build_info.TORCH_VERSION != torch.__version__:
        raise ImportError(
            f"lockstep_kernels was built against torch {_build_info.TORCH_VERSION}, but torch "
            f"{torch.__version__} is installed; rebuild it against this torch "
            f"(pip install --no-build-isolation --force-reinstall <lockstep>/python) "
            f"or install torch=={_build_info.TORCH_VERSION}"
        )


def library_path(path: Union[str, os.PathLike, None] = None) -> pathlib.Path:
    """The library load() would use for `path` (None: the search order above)."""
    if path is not None:
        return pathlib.Path(path)
    if os.environ.get(ENV_LIBRARY):
        return pathlib.Path(os.environ[ENV_LIBRARY])
    if BUNDLED_LIBRARY.is_file():
        return BUNDLED_LIBRARY
    return CHECKOUT_LIBRARY


def loaded_path() -> Optional[pathlib.Path]:
    """The library this process loaded, or None."""
    return _loaded


def load(path: Union[str, os.PathLike, None] = None) -> pathlib.Path:
    """Loads the kernels library into this process once; returns its path.

    Without `path`, an already loaded library is simply returned. A process holds one copy of
    the aten overrides, so naming a second, different file is an error.
    """
    global _loaded
    if _loaded is not None:
        if path is not None and pathlib.Path(path).resolve() != _loaded:
            raise RuntimeError(
                f"lockstep kernels already loaded from {_loaded}; cannot also load {pathlib.Path(path).resolve()}"
            )
        return _loaded
    lib = library_path(path).resolve()
    if not lib.is_file():
        raise FileNotFoundError(
            f"lockstep kernels library not found at {lib}: install the package "
            f"(pip install --no-build-isolation <lockstep>/python), build the lockstep_kernels "
            f"target, or set {ENV_LIBRARY}"
        )
    torch.ops.load_library(str(lib))
    _loaded = lib
    return lib


def ops():
    """torch.ops.lockstep, with the library loaded."""
    load()
    return torch.ops.lockstep

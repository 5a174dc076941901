"""python/src/lockstep_kernels: the PyTorch user's switch.

Inside batch_invariant() torch.mm rows are bitwise the same whatever the batch
size; outside it torch.mm is the stock kernel, which really drifts on the CPU
(kernels/STOCK-DRIFT.md: fp32 mm row 0 differs for every M >= 2), and gives exactly the bits
of a process that never loaded the library.

The library: conftest.py's (the build tree's).
"""
import os
import pathlib
import subprocess
import sys

import pytest
import torch

import lockstep_kernels as lk

BATCH_SIZES = (2, 3, 4, 7, 8, 16, 33, 64, 128, 257)


def operands(seed=0, k=576, n=576, rows=24):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g), torch.randn(rows, k, generator=g)


def drifting_batch_sizes(w, pool):
    """Batch sizes M at which some row of torch.mm(batch, w.t()) differs from
    the same row computed alone (batches are pool rows in a fixed shuffle)."""
    alone = [torch.mm(pool[i : i + 1], w.t())[0] for i in range(len(pool))]
    g = torch.Generator().manual_seed(1)
    drifting = []
    for m in BATCH_SIZES:
        index = torch.randint(0, len(pool), (m,), generator=g)
        out = torch.mm(pool[index], w.t())
        if any(not torch.equal(out[i], alone[int(r)]) for i, r in enumerate(index)):
            drifting.append(m)
    return drifting


def test_mode_switch_and_restore():
    assert lk.mode() == "off"
    with lk.batch_invariant():
        assert lk.mode() == "batch_invariant"
        assert lk.is_batch_invariant_mode_enabled()
        with lk.batch_invariant(enabled=False):
            assert lk.mode() == "off"
        assert lk.mode() == "batch_invariant"
    assert lk.mode() == "off"
    with pytest.raises(ZeroDivisionError):
        with lk.batch_invariant():
            1 / 0
    assert lk.mode() == "off"
    with pytest.raises(ValueError):
        lk.set_mode("sometimes")
    assert lk.mode() == "off"


def test_mm_rows_are_invariant_inside_and_drift_outside():
    w, pool = operands()
    stock_drift = drifting_batch_sizes(w, pool)
    assert stock_drift, "stock fp32 mm did not drift: the invariance check would prove nothing"
    with lk.batch_invariant():
        assert drifting_batch_sizes(w, pool) == []


def test_linear_rows_are_invariant_inside():
    w, pool = operands(seed=3, k=576, n=1536)
    bias = torch.randn(1536)
    with lk.batch_invariant():
        alone = torch.nn.functional.linear(pool[5:6], w, bias)[0]
        for batch in (pool[None, :, :], pool.reshape(4, 6, 576), pool[3:9]):
            out = torch.nn.functional.linear(batch, w, bias).reshape(-1, 1536)
            row = {24: 5, 6: 2}[out.shape[0]]
            assert torch.equal(out[row], alone)


def test_outside_is_bitwise_a_process_without_the_library(tmp_path):
    """Outside the context the overrides call the stock kernels: the bits
    equal those of a Python process that never loaded lockstep."""
    w, pool = operands(seed=5)
    batch = pool[:17]
    here = torch.mm(batch, w.t())
    theirs = tmp_path / "stock.pt"
    script = (
        "import sys, torch\n"
        f"sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r})\n"
        "from test_mode_switch import operands\n"
        "w, pool = operands(seed=5)\n"
        f"torch.save(torch.mm(pool[:17], w.t()), {str(theirs)!r})\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    assert torch.equal(here, torch.load(theirs))
    with lk.batch_invariant():
        ours = torch.mm(batch, w.t())
    assert not torch.equal(ours, here), "the override did not run inside the context"

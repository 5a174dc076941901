"""lockstep_kernels as a drop-in for batch_invariant_ops: every name of its __all__, with the same
behaviour, batch-invariant rows, and the coverage listing shared with `lockstep scan`."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import torch

import lockstep_kernels as lk
from package_support import DEVICES

ROOT = pathlib.Path(__file__).resolve().parents[2]

# batch_invariant_ops 0.1.0's __init__.__all__ (thinking-machines-lab/batch_invariant_ops).
BATCH_INVARIANT_OPS_ALL = [
    "set_batch_invariant_mode",
    "is_batch_invariant_mode_enabled",
    "disable_batch_invariant_mode",
    "enable_batch_invariant_mode",
    "matmul_persistent",
    "log_softmax",
    "mean_dim",
    "get_batch_invariant_attention_block_size",
    "AttentionBlockSize",
]


def rows(seed, m, k):
    return torch.randn(m, k, generator=torch.Generator().manual_seed(seed))


def test_every_batch_invariant_ops_name_is_exported():
    import lockstep_kernels as batch_invariant_ops

    for name in BATCH_INVARIANT_OPS_ALL:
        assert name in batch_invariant_ops.__all__, name
        assert callable(getattr(batch_invariant_ops, name)), name


def test_mode_switches_behave_like_batch_invariant_ops():
    assert not lk.is_batch_invariant_mode_enabled()
    with lk.set_batch_invariant_mode():
        assert lk.is_batch_invariant_mode_enabled()
        with lk.set_batch_invariant_mode(False):
            assert not lk.is_batch_invariant_mode_enabled()
        assert lk.is_batch_invariant_mode_enabled()
    assert not lk.is_batch_invariant_mode_enabled()
    lk.enable_batch_invariant_mode()
    assert lk.mode() == "batch_invariant"
    lk.disable_batch_invariant_mode()
    assert lk.mode() == "off"
    with lk.portable():
        assert lk.mode() == "portable"
    with pytest.raises(ValueError, match="unknown lockstep mode"):
        lk.set_mode("sometimes")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("device", DEVICES)
def test_matmul_persistent_rows_do_not_depend_on_the_batch_whatever_the_mode(dtype, device):
    w = rows(1, 576, 1536).to(device, dtype)
    bias = rows(2, 1, 1536)[0].to(device, dtype)
    pool = rows(3, 64, 576).to(device, dtype)
    alone = lk.matmul_persistent(pool[7:8], w, bias)[0]
    for m in (2, 9, 33, 64):
        start = max(0, 8 - m)
        assert torch.equal(lk.matmul_persistent(pool[start : start + m], w, bias)[7 - start], alone), m
    # It is lockstep's GEMM: inside the mode, torch.addmm gives the same bits.
    with lk.batch_invariant():
        assert torch.equal(torch.addmm(bias, pool, w), lk.matmul_persistent(pool, w, bias))
    assert torch.allclose(lk.matmul_persistent(pool, w).float(), (pool.float() @ w.float()), rtol=2e-2, atol=2e-1)


def test_matmul_persistent_refuses_what_it_does_not_compute():
    a, b = rows(1, 4, 8), rows(2, 8, 3)
    with pytest.raises(RuntimeError, match="incompatible dimensions"):
        lk.matmul_persistent(a, rows(3, 7, 3))
    with pytest.raises(RuntimeError, match="float32 or bfloat16"):
        lk.matmul_persistent(a.double(), b.double())
    with pytest.raises(RuntimeError, match="bias must be 1-D"):
        lk.matmul_persistent(a, b, torch.zeros(2, 3))


@pytest.mark.parametrize("device", DEVICES)
def test_log_softmax_and_mean_dim_match_torch_and_keep_rows(device):
    x = rows(4, 40, 1000).to(device)
    alone = lk.log_softmax(x[5:6])[0]
    assert torch.equal(lk.log_softmax(x)[5], alone)
    assert torch.allclose(lk.log_softmax(x), torch.log_softmax(x, -1), atol=1e-5)
    with pytest.raises(ValueError, match="last dimension"):
        lk.log_softmax(x, dim=0)
    m = lk.mean_dim(x, 1)
    assert torch.equal(lk.mean_dim(x[5:6], 1)[0], m[5])
    assert torch.allclose(m, x.mean(1), atol=1e-6)
    assert lk.mean_dim(x, -1, keepdim=True).shape == (40, 1)
    assert lk.mean_dim(torch.arange(12, device=device).reshape(3, 4), 1).dtype == torch.float32
    with pytest.raises(ValueError, match="Invalid dimension"):
        lk.mean_dim(x, 2)


def test_attention_block_size_names_the_fixed_split():
    size = lk.get_batch_invariant_attention_block_size()
    assert isinstance(size, lk.AttentionBlockSize)
    assert size == (1, 256) and size.block_n == 256


def test_covered_ops_and_classes_come_from_the_library():
    covered = lk.covered_ops()
    for op in ("aten::mm", "aten::addmm", "aten::scaled_dot_product_attention", "aten::sum.dim_IntList",
               "aten::multinomial"):
        assert op in covered
    assert lk.classify("aten::mm")[0] == "invariant"
    assert lk.classify("aten::sum")[0] == "uncovered"  # the full-tensor sum is not replaced
    assert lk.classify("aten::view")[0] == "exact"
    assert lk.classify("aten::linear")[0] == "composite"
    assert lk.classify("aten::cumsum") == ("uncovered", "a reduction lockstep does not replace")


def test_check_lists_the_ops_a_model_runs():
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 4), torch.nn.Softmax(-1))
    x = rows(5, 3, 16)
    report = lk.check(model, x)
    by_op = {op.op: op for op in report.ops}
    assert by_op["aten::addmm"].coverage == "invariant" and by_op["aten::addmm"].calls == 2
    assert by_op["aten::_softmax"].coverage == "invariant"
    assert by_op["aten::gelu"].coverage == "uncovered"  # stock vector and scalar paths may round differently
    assert not report.covered and report.uncovered[0].op == "aten::gelu"
    assert "uncovered" in str(report) and report.result.shape == (3, 4)
    assert lk.mode() == "off"
    covered = lk.check(torch.nn.Linear(16, 4), x)
    assert covered.covered, str(covered)


def test_load_then_context_uses_the_loaded_library(tmp_path, kernels_library):
    """Regression: lk.load(path) followed by `with lk.batch_invariant():` raised "already loaded
    from PATH; cannot also load <default path>" unless $LOCKSTEP_KERNELS_LIB was also set."""
    copy = tmp_path / "elsewhere" / "liblockstep_kernels.so"
    copy.parent.mkdir()
    shutil.copy(kernels_library, copy)
    script = (
        "import lockstep_kernels as lk\n"
        f"assert lk.load({str(copy)!r}) == lk.loaded_path()\n"
        "with lk.batch_invariant():\n"
        "    assert lk.is_batch_invariant_mode_enabled()\n"
        "assert lk.load() == lk.loaded_path()\n"
        "try:\n"
        "    lk.load('/nonexistent/liblockstep_kernels.so')\n"
        "except RuntimeError as e:\n"
        "    assert 'already loaded' in str(e)\n"
        "else:\n"
        "    raise AssertionError('a second library was accepted')\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != lk.ENV_LIBRARY}
    env["PYTHONPATH"] = str(ROOT / "python" / "src")
    run = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr

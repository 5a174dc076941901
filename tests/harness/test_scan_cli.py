"""`lockstep scan` on lockstep's own model and on a TorchScript module a user
brings: every op the run calls is listed and classified, and ops without an
invariant kernel make the scan fail (exit 1)."""
import json

import pytest
import torch

from test_cli import lockstep


def test_own_model_is_fully_covered(lockstep_bin, default_model):
    result = lockstep(lockstep_bin, "scan", "--model", default_model, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["schema"] == "lockstep.scan/0" and report["verdict"] == "covered"
    coverage = {op["op"]: op["coverage"] for op in report["ops"]}
    # Attention runs in lockstep's paged kernel (kernels/paged_attention.h), called directly by the
    # engine's step, not through the dispatcher; its KV write is an index_copy_ (data movement).
    # Ops are listed by overload, and invariant only where register.cpp registers that overload.
    for op in ("aten::mm", "aten::mean.dim", "aten::silu"):
        assert coverage[op] == "invariant"
    assert coverage.get("aten::scaled_dot_product_attention", "invariant") == "invariant"
    assert coverage["aten::index_copy_"] == "exact"
    assert coverage["aten::linear"] == "composite" and coverage["aten::rsqrt"] == "invariant"


class Uncovered(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(16, 16)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.proj(x))            # gelu: no invariant kernel
        h = h + h.sum(dim=-1, keepdim=True) + h.sum()         # sum.dim_IntList is replaced; the full sum is not
        return torch.cumsum(h, dim=-1).softmax(dim=-1)        # cumsum: a reduction not replaced


@pytest.fixture()
def module_file(tmp_path):
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(Uncovered().eval()), str(path))
    return path


def test_torchscript_module_reports_its_uncovered_ops(lockstep_bin, module_file):
    result = lockstep(lockstep_bin, "scan", "--torchscript", module_file, "--input-shape", "2,3,16", "--json")
    assert result.returncode == 1, result.stderr[-2000:]
    report = json.loads(result.stdout)
    uncovered = {op["op"] for op in report["ops"] if op["coverage"] == "uncovered"}
    assert uncovered == {"aten::gelu", "aten::cumsum", "aten::sum"}
    coverage = {op["op"]: op["coverage"] for op in report["ops"]}
    assert coverage["aten::addmm"] == "invariant" and coverage["aten::_softmax"] == "invariant"
    assert coverage["aten::sum.dim_IntList"] == "invariant"
    notes = {op["op"]: op["note"] for op in report["ops"]}
    assert "sum.dim_IntList" in notes["aten::sum"] and "not this overload" in notes["aten::sum"]
    table = lockstep(lockstep_bin, "scan", "--torchscript", module_file, "--input-shape", "2,3,16")
    assert table.returncode == 1 and "aten::cumsum" in table.stdout.splitlines()[1] + table.stdout.splitlines()[2]


def test_scan_bad_inputs(lockstep_bin, module_file, tmp_path):
    wrong_shape = lockstep(lockstep_bin, "scan", "--torchscript", module_file, "--input-shape", "2,3,5")
    assert wrong_shape.returncode == 2 and "forward failed" in wrong_shape.stderr
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a module")
    not_module = lockstep(lockstep_bin, "scan", "--torchscript", junk)
    assert not_module.returncode == 2 and "not a loadable TorchScript module" in not_module.stderr
    assert lockstep(lockstep_bin, "scan", "--input-shape", "1,2").returncode == 2   # needs --torchscript

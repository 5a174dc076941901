"""torch.compile (inductor) under a lockstep mode raises LockstepCompileError instead of running
inductor's own reductions silently; with the mode off it compiles (stock); code compiled with the
mode off is not reused once the mode is on; backend="eager" runs lockstep's kernels."""
import pytest
import torch

import lockstep_kernels as lk


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(64, 64)

    def forward(self, x):
        return torch.softmax(self.proj(x), -1).sum(-1)


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return Tiny().eval()


def inputs(rows=8):
    return torch.randn(rows, 64, generator=torch.Generator().manual_seed(1))


def test_inductor_is_refused_with_a_clear_error_under_the_mode(tiny):
    compiled = torch.compile(tiny)
    with lk.batch_invariant():
        with pytest.raises(Exception, match="not batch-invariant") as caught:
            compiled(inputs())
    assert isinstance(caught.value, lk.LockstepCompileError) or "LockstepCompileError" in repr(caught.value)


def test_code_compiled_with_the_mode_off_is_not_reused_under_it(tiny):
    compiled = torch.compile(tiny)
    with torch.no_grad():
        stock = compiled(inputs())
    assert torch.allclose(stock, tiny(inputs()), atol=1e-5)
    with lk.batch_invariant():
        with pytest.raises(Exception, match="not batch-invariant"):
            compiled(inputs())
    with torch.no_grad():
        assert torch.equal(compiled(inputs()), stock)


def test_eager_backend_runs_lockstep_kernels(tiny):
    compiled = torch.compile(tiny, backend="eager")
    with lk.batch_invariant(), torch.no_grad():
        eager = tiny(inputs(16))
        assert torch.equal(compiled(inputs(16)), eager)
        assert torch.equal(compiled(inputs(16)[3:4])[0], eager[3])

"""A TorchScript module a user saved and loads again becomes batch-invariant
inside lockstep_kernels.batch_invariant(), with no change to the module.

The module is a small pre-norm transformer block (LayerNorm, fused QKV
linear, causal scaled_dot_product_attention, a SiLU MLP, a vocabulary
projection and log_softmax), scripted, saved with torch.jit.save and loaded
with torch.jit.load, the way a user brings a model. A request's output must
have the same bits alone and in batches of other requests; outside the mode
the stock kernels must drift for some batch, or the check would prove
nothing. Runs on the CPU, and on CUDA where a GPU is present.
"""
import pytest
import torch

import lockstep_kernels as lk
from package_support import DEVICES
BATCHES = (2, 3, 5, 8, 16, 33, 64)


class Block(torch.nn.Module):
    def __init__(self, d: int = 192, heads: int = 3, vocab: int = 1000):
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d, bias=False)
        self.norm2 = torch.nn.LayerNorm(d)
        self.up = torch.nn.Linear(d, 4 * d)
        self.down = torch.nn.Linear(4 * d, d)
        self.head = torch.nn.Linear(d, vocab, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=-1)
        shape = (b, t, self.heads, d // self.heads)
        q, k, v = (z.reshape(shape).transpose(1, 2) for z in (q, k, v))
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        x = x + self.down(torch.nn.functional.silu(self.up(self.norm2(x))))
        return torch.log_softmax(self.head(x), dim=-1)


@pytest.fixture(scope="module")
def scripted_file(tmp_path_factory):
    lk.load()
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ts") / "block.pt"
    torch.jit.save(torch.jit.script(Block().eval()), str(path))
    return path


def requests(device, count=12, t=9, d=192):
    g = torch.Generator().manual_seed(7)
    return torch.randn(count, t, d, generator=g).to(device)


def drifting(module, pool):
    """Batch sizes at which some request's output differs from its solo run."""
    with torch.no_grad():
        alone = [module(pool[i : i + 1])[0] for i in range(len(pool))]
        g = torch.Generator().manual_seed(3)
        out = []
        for m in BATCHES:
            index = torch.randint(0, len(pool), (m,), generator=g)
            y = module(pool[index.to(pool.device)])
            if any(not torch.equal(y[i], alone[int(r)]) for i, r in enumerate(index)):
                out.append(m)
    return out


@pytest.mark.parametrize("device", DEVICES)
def test_loaded_torchscript_module_is_invariant_inside_the_mode(scripted_file, device):
    module = torch.jit.load(str(scripted_file), map_location=device)
    assert isinstance(module, torch.jit.ScriptModule)
    pool = requests(device)
    assert lk.mode() == "off"
    stock = drifting(module, pool)
    assert stock, f"stock kernels did not drift on {device}: the invariance check would prove nothing"
    with lk.batch_invariant():
        assert drifting(module, pool) == []


@pytest.mark.parametrize("device", DEVICES)
def test_invariant_module_agrees_with_float64(scripted_file, device):
    module = torch.jit.load(str(scripted_file), map_location=device)
    pool = requests(device)
    reference = torch.jit.load(str(scripted_file), map_location="cpu").double()
    with torch.no_grad():
        want = reference(pool.cpu().double())
        with lk.batch_invariant():
            got = module(pool).cpu().double()
    # fp32 through ~10 ops of width <= 768: relative error ~1e-6 of the logits' scale
    err = (got - want).abs().max() / want.abs().max()
    assert err < 1e-5, f"relative error {err:.3g} vs float64"

"""torch.multinomial in batch_invariant mode (kernels/sampling.h): a row's samples depend on its
own probabilities and the seed, not on the rows beside it; the draws follow the distribution; bad
distributions fail as stock's do. With the mode off, stock multinomial's rows do depend on the
batch (the negative control)."""
import math

import pytest
import torch

import lockstep_kernels as lk
from package_support import DEVICES


def distributions(seed, rows, vocab, zeros=0.3, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, vocab, generator=g) * 3
    p = torch.softmax(logits, -1)
    p[torch.rand(rows, vocab, generator=g) < zeros] = 0  # top-k / top-p style holes
    p[:, 0] += 1e-3  # no empty row
    return p.to(device)


def samples_alone_and_in_batches(p, n, replacement, seed=7):
    alone = []
    for r in range(len(p)):
        torch.manual_seed(seed)
        alone.append(torch.multinomial(p[r : r + 1], n, replacement)[0])
    batched = []
    for size in (2, 5, len(p)):
        for start in range(0, len(p), size):
            torch.manual_seed(seed)
            out = torch.multinomial(p[start : start + size], n, replacement)
            batched.extend((start + i, out[i]) for i in range(len(out)))
    return alone, batched


@pytest.mark.parametrize("n,replacement", [(1, False), (1, True), (4, True), (3, False)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_a_row_samples_the_same_alone_and_in_any_batch(n, replacement, dtype, device):
    p = distributions(1, 11, 3000, device=device).to(dtype)
    with lk.batch_invariant():
        alone, batched = samples_alone_and_in_batches(p, n, replacement)
        torch.manual_seed(7)
        one_d = torch.multinomial(p[3], n, replacement)
    for r, out in batched:
        assert torch.equal(out, alone[r]), r
    assert torch.equal(one_d, alone[3])
    if not replacement:
        for out in alone:
            assert len(set(out.tolist())) == n
    for r, out in enumerate(alone):
        assert bool((p[r][out] > 0).all()), "sampled a category of probability 0"


@pytest.mark.parametrize("device", DEVICES)
def test_negative_control_stock_rows_depend_on_the_batch(device):
    p = distributions(1, 11, 3000, device=device)
    alone, batched = samples_alone_and_in_batches(p, 1, False)
    assert any(not torch.equal(out, alone[r]) for r, out in batched)


def test_seeds_replay_and_differ():
    p = distributions(2, 4, 500)
    with lk.batch_invariant():
        runs = {}
        for seed in (1, 1, 2, 3):
            torch.manual_seed(seed)
            runs.setdefault(seed, []).append(torch.cat([torch.multinomial(p, 1) for _ in range(8)], 1))
        g = torch.Generator().manual_seed(5)
        with_generator = torch.multinomial(p, 1, generator=g)
    assert torch.equal(runs[1][0], runs[1][1])
    assert not torch.equal(runs[1][0], runs[2][0]) and not torch.equal(runs[2][0], runs[3][0])
    assert with_generator.shape == (4, 1)
    # Successive calls advance the generator: the 8 draws of one row are not all equal.
    assert len(set(runs[2][0][0].tolist())) > 1


@pytest.mark.parametrize("device", DEVICES)
def test_draws_follow_the_distribution(device):
    """50,000 draws with replacement from one 8-category distribution: a chi-square test at
    7 degrees of freedom (p < 1e-4 rejects: critical value 29.9)."""
    p = torch.tensor([0.30, 0.20, 0.15, 0.12, 0.10, 0.08, 0.05, 0.0], device=device)
    with lk.batch_invariant():
        torch.manual_seed(0)
        draws = torch.multinomial(p, 50_000, replacement=True)
    counts = torch.bincount(draws.cpu(), minlength=8).double()
    assert counts[7] == 0
    expected = p[:7].cpu().double() * 50_000
    chi2 = float(((counts[:7] - expected) ** 2 / expected).sum())
    assert chi2 < 29.9, (chi2, counts.tolist())
    # Without replacement, the first draw of many calls follows p too (the exponential race).
    with lk.batch_invariant():
        torch.manual_seed(1)
        first = torch.stack([torch.multinomial(p, 3)[0] for _ in range(4000)])
    share = torch.bincount(first.cpu(), minlength=8).double() / 4000
    assert torch.allclose(share[:7], p[:7].cpu().double(), atol=0.03), share.tolist()


@pytest.mark.parametrize(
    "bad,message",
    [
        (torch.tensor([[0.5, -0.1, 0.6]]), "element < 0"),
        (torch.tensor([[0.5, math.nan, 0.5]]), "nan"),
        (torch.tensor([[0.0, 0.0, 0.0]]), "sum of probabilities <= 0"),
    ],
)
@pytest.mark.parametrize("device", DEVICES)
def test_bad_distributions_fail_like_stock(bad, message, device):
    with lk.batch_invariant():
        with pytest.raises(RuntimeError, match=message):
            torch.multinomial(bad.to(device), 1)
        with pytest.raises(RuntimeError, match="not enough non-negative category"):
            torch.multinomial(torch.tensor([0.5, 0.5, 0.0], device=device), 3)
        with pytest.raises(RuntimeError, match="n_sample <= 0"):
            torch.multinomial(torch.tensor([0.5, 0.5], device=device), 0)

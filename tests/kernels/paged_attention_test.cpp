// The engine's paged attention (kernels/paged_attention.h) on the CPU: in
// batch_invariant mode the fused kernel gives every query row exactly the
// bits of aten SDPA over its own sequence alone (the invariant kernel),
// whatever the other sequences, the block size, the order of the blocks or
// the chunk the query came in; with a sliding window too. Bad layouts are
// refused. The reference is built here, independently of kernels/paged_attention_dispatch.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/mode.h"
#include "kernels/paged_attention.h"

namespace lockstep::kernels {
namespace {

struct Seq {
  int64_t pos0, length;
};

struct Case {
  at::ScalarType dtype;
  int64_t hq, hkv, d, block, window;
  std::vector<Seq> seqs;
};

// One sequence alone: SDPA over its dense keys 0 .. pos0 + length - 1.
at::Tensor solo(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t pos0, int64_t window) {
  const int64_t t = q.size(0), total = k.size(0);
  const at::Tensor rows = at::arange(pos0, pos0 + t, at::kLong).unsqueeze(1);
  const at::Tensor cols = at::arange(0, total, at::kLong).unsqueeze(0);
  at::Tensor m = cols <= rows;
  if (window > 0) m = m & (rows - cols < window);
  const bool need_mask = t > 1 || (window > 0 && total > window);
  const at::Tensor out = at::scaled_dot_product_attention(
      q.transpose(0, 1).unsqueeze(0), k.permute({1, 0, 2}).unsqueeze(0), v.permute({1, 0, 2}).unsqueeze(0),
      need_mask ? std::optional<at::Tensor>(m.to(q.device())) : std::nullopt, 0.0, false, std::nullopt, /*enable_gqa=*/true);
  return out[0].transpose(0, 1);
}

// mode off: the stock path (CUDA half types: FlashAttention varlen over
// gathered keys) against stock SDPA per sequence, within `tolerance`.
void check(const Case& c, uint64_t seed, at::Device device = at::kCPU, Mode mode = Mode::batch_invariant,
           double tolerance = 0) {
  const ModeGuard guard(mode);
  std::mt19937_64 rng(seed);
  at::Generator g = at::detail::createCPUGenerator(seed);
  int64_t blocks_needed = 0, tokens = 0;
  for (const Seq& s : c.seqs) {
    blocks_needed += (s.pos0 + s.length + c.block - 1) / c.block;
    tokens += s.length;
  }
  const int64_t nblocks = blocks_needed + 3;
  // Garbage (not zeros) in every slot nobody owns: a row must never read it.
  const at::Tensor kc = (at::randn({nblocks, c.hkv, c.block, c.d}, g) * 1e4).to(c.dtype);
  const at::Tensor vc = (at::randn({nblocks, c.hkv, c.block, c.d}, g) * 1e4).to(c.dtype);
  std::vector<int32_t> order(static_cast<size_t>(nblocks));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  const at::Tensor q = at::randn({tokens, c.hq, c.d}, g).to(c.dtype);
  std::vector<PagedStep::Sequence> seqs;
  std::vector<at::Tensor> dense_k, dense_v;
  size_t next = 0;
  int64_t offset = 0;
  for (const Seq& s : c.seqs) {
    PagedStep::Sequence p{offset, s.length, s.pos0, {}};
    const int64_t total = s.pos0 + s.length;
    for (int64_t b = 0; b < (total + c.block - 1) / c.block; ++b) p.blocks.push_back(order[next++]);
    const at::Tensor k = at::randn({total, c.hkv, c.d}, g).to(c.dtype), v = at::randn({total, c.hkv, c.d}, g).to(c.dtype);
    for (int64_t j = 0; j < total; ++j) {
      kc.select(0, p.blocks[j / c.block]).select(1, j % c.block).copy_(k[j]);
      vc.select(0, p.blocks[j / c.block]).select(1, j % c.block).copy_(v[j]);
    }
    dense_k.push_back(k);
    dense_v.push_back(v);
    seqs.push_back(std::move(p));
    offset += s.length;
  }
  const PagedStep step(seqs, c.block, c.window, c.hkv, device);
  const at::Tensor out = paged_attention(q.to(device), kc.to(device), vc.to(device), step, std::nullopt).cpu();
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{tokens, c.hq, c.d}));
  for (size_t i = 0; i < c.seqs.size(); ++i) {
    const Seq& s = c.seqs[i];
    const at::Tensor want = solo(q.narrow(0, seqs[i].offset, s.length).to(device), dense_k[i].to(device),
                                 dense_v[i].to(device), s.pos0, c.window).cpu();
    const at::Tensor got = out.narrow(0, seqs[i].offset, s.length);
    EXPECT_TRUE(tolerance == 0 ? at::equal(got, want)
                               : at::allclose(got.to(at::kFloat), want.to(at::kFloat), tolerance, tolerance))
        << "sequence " << i << " (pos0 " << s.pos0 << ", length " << s.length << "), block " << c.block
        << ", window " << c.window << ", dtype " << c.dtype << ", max diff "
        << (out.narrow(0, seqs[i].offset, s.length).to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>();
  }
}

TEST(PagedAttention, EveryRowEqualsItsSequenceAloneFp32) {
  // decodes past several 256-key splits, a prefill from 0, a chunk at 300, GQA 3 (SmolLM2) and 4
  const std::vector<Seq> mix{{700, 1}, {0, 37}, {1, 1}, {300, 45}, {255, 1}, {0, 1}, {511, 2}};
  check({at::kFloat, 9, 3, 64, 16, 0, mix}, 1);
  check({at::kFloat, 8, 2, 128, 16, 0, mix}, 2);
  check({at::kFloat, 4, 4, 80, 7, 0, mix}, 3);   // the generic head-dim path, an odd block size
  check({at::kFloat, 6, 2, 64, 1, 0, mix}, 4);   // one position per block
}

TEST(PagedAttention, EveryRowEqualsItsSequenceAloneBf16) {
  const std::vector<Seq> mix{{600, 1}, {0, 20}, {129, 3}, {3, 1}};
  check({at::kBFloat16, 9, 3, 64, 16, 0, mix}, 5);
  check({at::kBFloat16, 32, 8, 64, 32, 0, mix}, 6);
  check({at::kBFloat16, 8, 8, 128, 16, 0, mix}, 7);
}

TEST(PagedAttention, SlidingWindowEqualsTheMaskedSolo) {
  const std::vector<Seq> mix{{600, 1}, {0, 40}, {290, 30}, {2, 1}};
  check({at::kFloat, 8, 2, 64, 16, 32, mix}, 8);
  check({at::kFloat, 8, 2, 64, 16, 300, mix}, 9);
  check({at::kBFloat16, 8, 2, 64, 16, 5, mix}, 10);
}

// The same query in two steps with other neighbours and other blocks.
TEST(PagedAttention, ARowDoesNotDependOnItsNeighbours) {
  for (uint64_t seed : {11, 12, 13}) {
    check({at::kFloat, 9, 3, 64, 16, 0, {{400, 1}}}, seed);
    check({at::kFloat, 9, 3, 64, 16, 0, {{0, 3}, {400, 1}, {17, 9}, {1000, 1}}}, seed);
  }
}

// CUDA: the paged kernel against lockstep's CUDA SDPA over each sequence
// alone (both batch_invariant), the same mixes, fp16 too, and a step as the
// engine makes it at batch 64 with long and short sequences.
TEST(PagedAttentionCuda, EveryRowEqualsItsSequenceAlone) {
  if (!at::globalContext().hasCUDA()) GTEST_SKIP() << "no CUDA GPU";
  const std::vector<Seq> mix{{700, 1}, {0, 37}, {1, 1}, {300, 45}, {255, 1}, {0, 1}, {511, 2}};
  for (at::ScalarType t : {at::kFloat, at::kBFloat16, at::kHalf}) {
    check({t, 9, 3, 64, 16, 0, mix}, 21, at::kCUDA);
    check({t, 32, 8, 64, 16, 0, mix}, 22, at::kCUDA);
    check({t, 4, 4, 80, 7, 0, mix}, 23, at::kCUDA);   // no 16-byte loads: the generic path
    check({t, 8, 2, 128, 1, 0, mix}, 24, at::kCUDA);
    check({t, 8, 2, 64, 16, 32, mix}, 25, at::kCUDA);   // sliding window
  }
  std::vector<Seq> engine;
  std::mt19937_64 rng(26);
  for (int i = 0; i < 64; ++i) engine.push_back(i % 9 == 0 ? Seq{int64_t(rng() % 900), int64_t(1 + rng() % 300)}
                                                           : Seq{int64_t(rng() % 2000), 1});
  check({at::kBFloat16, 32, 8, 64, 16, 0, engine}, 27, at::kCUDA);
}

TEST(PagedAttentionCuda, StockPathAgreesWithStockSdpa) {
  if (!at::globalContext().hasCUDA()) GTEST_SKIP() << "no CUDA GPU";
  const std::vector<Seq> mix{{700, 1}, {0, 37}, {1, 1}, {300, 45}, {255, 1}, {0, 1}, {511, 2}};
  for (at::ScalarType t : {at::kBFloat16, at::kHalf}) {
    check({t, 32, 8, 64, 16, 0, mix}, 31, at::kCUDA, Mode::off, 2e-2);
    check({t, 9, 3, 64, 16, 0, mix}, 32, at::kCUDA, Mode::off, 2e-2);
    check({t, 8, 2, 128, 16, 32, mix}, 33, at::kCUDA, Mode::off, 2e-2);
  }
}

// PagedStep::write puts every token's row where the table says.
TEST(PagedAttention, WritePlacesEveryTokenAtItsBlockAndPosition) {
  const at::Tensor cache = at::zeros({4, 2, 3, 5});
  const PagedStep step({{0, 2, 2, {3, 1}}, {2, 1, 0, {0}}}, 3, 0, 2, at::kCPU);
  const at::Tensor x = at::arange(30, at::kFloat).view({3, 2, 5});
  step.write(cache, x);
  EXPECT_TRUE(at::equal(cache[3].select(1, 2), x[0]));   // position 2: block 3, slot 2
  EXPECT_TRUE(at::equal(cache[1].select(1, 0), x[1]));   // position 3: block 1, slot 0
  EXPECT_TRUE(at::equal(cache[0].select(1, 0), x[2]));   // the second sequence's position 0
  EXPECT_EQ(cache.count_nonzero().item<int64_t>() + 1, x.numel());   // nothing else written (x[0][0][0] is 0)
  EXPECT_THROW(step.write(cache, at::zeros({2, 2, 5})), c10::Error);
}

TEST(PagedAttention, RefusesBadLayouts) {
  const ModeGuard guard(Mode::batch_invariant);
  const at::Tensor kc = at::zeros({2, 2, 16, 64}), q = at::zeros({2, 4, 64});
  EXPECT_THROW(PagedStep({}, 16, 0, 2, at::kCPU), c10::Error);                           // no sequence
  EXPECT_THROW(PagedStep({{0, 2, 20, {0}}}, 16, 0, 2, at::kCPU), c10::Error);            // table too short
  EXPECT_THROW(PagedStep({{1, 2, 0, {0}}}, 16, 0, 2, at::kCPU), c10::Error);             // not consecutive
  const PagedStep past({{0, 2, 14, {5}}}, 16, 0, 2, at::kCPU);                         // block 5 of 2
  EXPECT_THROW(paged_attention(q, kc, kc, past, std::nullopt), c10::Error);
  const PagedStep ok({{0, 2, 0, {1}}}, 16, 0, 2, at::kCPU);
  EXPECT_THROW(paged_attention(at::zeros({3, 4, 64}), kc, kc, ok, std::nullopt), c10::Error);        // q rows
  EXPECT_THROW(paged_attention(q, kc, at::zeros({1, 2, 16, 64}), ok, std::nullopt), c10::Error);    // k vs v blocks
  EXPECT_THROW(paged_attention(q, kc, kc, PagedStep({{0, 2, 0, {1}}}, 8, 0, 2, at::kCPU), std::nullopt),
               c10::Error);                                                                     // block size
  EXPECT_THROW(paged_attention(at::zeros({2, 3, 64}), kc, kc, ok, std::nullopt), c10::Error);        // 3 heads, 2 kv
  EXPECT_NO_THROW(paged_attention(q, kc, kc, ok, std::nullopt));
}

}  // namespace
}  // namespace lockstep::kernels

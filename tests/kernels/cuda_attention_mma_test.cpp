// The tensor-core attention (kernels/cuda/attention_mma.cuh), switched on by
// an AttentionMmaOverride whatever LOCKSTEP_ATTENTION_MMA says: for bf16 and
// fp16, D 64 and 128, GQA groups 1 and 4, causal or not, bool and additive
// masks:
//  * agreement with float64 (tolerance: relative inf-norm error 8e-3 fp16,
//    3e-2 bf16: p is rounded to the input type before P·V);
//  * the walk kernel (prefill) and the split + combine kernels (decode) give
//    the same bits, and so does the automatic choice;
//  * prefill in one shot == prefill in chunks == decode, bitwise, over dense
//    tensors (NaN padding behind a mask) and over a paged cache (NaN in
//    every slot a step does not own) with other sequences in the step, and
//    dense == paged for the same row;
//  * a sequence alone == the same sequence in batches of others, bitwise;
//  * finfo.min additive masks as aten treats them;
//  * unaligned operands (element loads) == aligned ones, bitwise; fp32 and
//    other head dims keep the CUDA-core kernel's bits;
//  * negative controls: a permutation of the keys (the same math) changes
//    the bits, and stock flash attention's rows move with the batch or
//    between prefill and decode.
// Every test skips without a GPU.
#include <gtest/gtest.h>

#ifdef LOCKSTEP_WITH_CUDA

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "kernels/cuda/attention_mma.h"
#include "kernels/splits.h"
#include "tests/kernels/cuda_test_support.h"

namespace lockstep::kernels::cuda {
namespace {

using at::indexing::Slice;

double tolerance(at::ScalarType t) { return t == at::kHalf ? 8e-3 : 3e-2; }

using testing::reference;  // float64 SDPA (cuda_test_support.h)

struct MmaCase {
  std::string name;
  at::ScalarType dtype;
  int64_t B, Hq, Hkv, Tq, Tk, D;
  bool causal;
  int mask;  // 0 none, 1 bool (some rows see nothing), 2 additive (random values and -inf)
};

std::vector<MmaCase> mma_cases() {
  std::vector<MmaCase> cases;
  for (at::ScalarType t : {at::kBFloat16, at::kHalf}) {
    for (int64_t d : {64, 128}) {
      for (int64_t g : {1, 4}) {
        const std::string tag = std::string(t == at::kHalf ? "fp16" : "bf16") + "_d" + std::to_string(d) + "_g" +
                                std::to_string(g);
        cases.push_back({"prefill_causal_" + tag, t, 2, 2 * g, 2, 300, 300, d, true, 0});
        cases.push_back({"decode_" + tag, t, 3, 4 * g, 4, 1, 1000, d, false, 0});
        cases.push_back({"chunk_causal_" + tag, t, 1, 2 * g, 2, 70, 600, d, true, 0});
        cases.push_back({"bool_mask_" + tag, t, 2, 2 * g, 2, 37, 600, d, false, 1});
        cases.push_back({"additive_mask_" + tag, t, 2, 2 * g, 2, 19, 513, d, false, 2});
      }
    }
  }
  return cases;
}

using Inputs = testing::AttentionInputs;

Inputs make_inputs(const MmaCase& c, uint64_t seed) {
  Inputs in = testing::attention_inputs(c.dtype, c.B, c.Hq, c.Hkv, c.Tq, c.Tk, c.D, c.D, c.mask, seed);
  if (c.mask == 1) in.mask.select(2, 0).fill_(false);  // query 0 sees nothing: zeros
  return in;
}

std::optional<at::Tensor> opt(const at::Tensor& t) { return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt; }

at::Tensor run(const MmaCase& c, const Inputs& in, MmaKernel kernel) {
  const AttentionMmaOverride on(true, kernel);
  return ours::sdpa(in.q, in.k, in.v, opt(in.mask), c.causal, std::nullopt, c.Hq != c.Hkv);
}

class CudaAttentionMma : public ::testing::TestWithParam<MmaCase> {};

TEST_P(CudaAttentionMma, MatchesFloat64AndBothKernelsAgree) {
  SKIP_WITHOUT_GPU();
  const MmaCase& c = GetParam();
  const Inputs in = make_inputs(c, 1);
  const at::Tensor walk = run(c, in, MmaKernel::walk);
  ASSERT_EQ(walk.sizes(), (std::vector<int64_t>{c.B, c.Hq, c.Tq, c.D}));
  ASSERT_EQ(walk.scalar_type(), c.dtype);
  EXPECT_FALSE(walk.isnan().any().item<bool>());
  EXPECT_LT(relative_inf_error(walk, reference(in.q, in.k, in.v, in.mask, c.causal)), tolerance(c.dtype));
  EXPECT_TRUE(bits_equal(run(c, in, MmaKernel::split), walk)) << "split kernel vs walk kernel";
  EXPECT_TRUE(bits_equal(run(c, in, MmaKernel::automatic), walk)) << "automatic choice vs walk kernel";
  if (c.mask == 1) {
    EXPECT_TRUE(walk.select(2, 0).eq(0).all().item<bool>()) << "a row that sees nothing gives 0";
  }
}

// Each (sequence, head, query) row computed inside a batch of sequences has
// the bits it has when its sequence runs alone (both kernels).
TEST_P(CudaAttentionMma, SequencesAreBatchInvariant) {
  SKIP_WITHOUT_GPU();
  MmaCase c = GetParam();
  c.B = 12;
  const Inputs in = make_inputs(c, 2);
  for (MmaKernel kernel : {MmaKernel::automatic, MmaKernel::walk, MmaKernel::split}) {
    auto op = [&](const at::Tensor& index_rows) {
      const at::Tensor index = index_rows.reshape({-1}).to(at::kCUDA);
      Inputs sub{in.q.index_select(0, index), in.k.index_select(0, index), in.v.index_select(0, index),
                 in.mask.defined() ? in.mask.index_select(0, index) : at::Tensor()};
      return run(c, sub, kernel);
    };
    const at::Tensor pool = at::arange(12, at::kLong).reshape({12, 1});
    EXPECT_TRUE(check_rows_invariant(op, pool, {1, 2, 3, 5, 8, 16, 33})) << "kernel " << static_cast<int>(kernel);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, CudaAttentionMma, ::testing::ValuesIn(mma_cases()),
                         [](const ::testing::TestParamInfo<MmaCase>& info) { return info.param.name; });

struct Shape {
  at::ScalarType dtype;
  int64_t d, hkv;
};
std::vector<Shape> mode_shapes() {
  std::vector<Shape> s;
  for (at::ScalarType t : {at::kBFloat16, at::kHalf}) {
    for (int64_t d : {64, 128}) {
      for (int64_t hkv : {4, 1}) s.push_back({t, d, hkv});  // Hq = 4: G = 1 and 4
    }
  }
  return s;
}

// One sequence of T tokens: causal prefill in one shot, prefill in chunks
// against a longer cache (NaN past the sequence, hidden by the mask) and
// token-by-token decode give every position the same bits; the one-shot
// prefill and the chunks run on different kernels.
TEST(CudaAttentionMmaModes, PrefillChunkedAndDecodeAgree) {
  SKIP_WITHOUT_GPU();
  for (const Shape& s : mode_shapes()) {
    at::manual_seed(3);
    const int64_t Hq = 4, T = 3 * kKvSplit + 37, cache = 4 * kKvSplit + 11;
    const at::Tensor q = at::randn({1, Hq, T, s.d}, cuda_opts(s.dtype));
    at::Tensor k = at::full({1, s.hkv, cache, s.d}, std::numeric_limits<float>::quiet_NaN(), cuda_opts(s.dtype));
    at::Tensor v = at::full({1, s.hkv, cache, s.d}, std::numeric_limits<float>::quiet_NaN(), cuda_opts(s.dtype));
    k.narrow(2, 0, T).copy_(at::randn({1, s.hkv, T, s.d}, cuda_opts(s.dtype)));
    v.narrow(2, 0, T).copy_(at::randn({1, s.hkv, T, s.d}, cuda_opts(s.dtype)));
    const bool gqa = s.hkv != Hq;
    const at::Tensor positions = at::arange(cache, cuda_opts(at::kLong));
    for (MmaKernel whole : {MmaKernel::walk, MmaKernel::split}) {
      const MmaKernel parts = whole == MmaKernel::walk ? MmaKernel::split : MmaKernel::walk;
      at::Tensor prefill;
      {
        const AttentionMmaOverride on(true, whole);
        prefill = ours::sdpa(q, k.narrow(2, 0, T), v.narrow(2, 0, T), std::nullopt, true, std::nullopt, gqa);
      }
      const AttentionMmaOverride on(true, parts);
      for (int64_t chunk : {int64_t{1}, int64_t{100}, kKvSplit}) {
        for (int64_t start = 0; start < T; start += chunk) {
          const int64_t end = std::min(T, start + chunk);
          const at::Tensor qpos = at::arange(start, end, cuda_opts(at::kLong)).unsqueeze(1);
          const at::Tensor mask = positions.unsqueeze(0) <= qpos;  // [chunk, cache]
          const at::Tensor got = ours::sdpa(q.narrow(2, start, end - start), k, v, mask, false, std::nullopt, gqa);
          ASSERT_TRUE(bits_equal(got, prefill.narrow(2, start, end - start)))
              << s.dtype << " d=" << s.d << " hkv=" << s.hkv << " chunk " << chunk << " at " << start
              << " (prefill on kernel " << static_cast<int>(whole) << ")";
          if (chunk == 1 && start > 40 && start < T - 40) start += 29;  // decode: sample positions
        }
      }
    }
  }
}

// A paged cache: the main sequence's keys in shuffled blocks of 16, NaN in
// every slot not written yet; one step per call with a neighbour sequence.
struct PagedFixture {
  int64_t hq, hkv, d, block = 16;
  at::ScalarType dtype;
  at::Tensor kc, vc;
  std::vector<int64_t> free_blocks;

  PagedFixture(const Shape& s, int64_t Hq, int64_t nblocks)
      : hq(Hq), hkv(s.hkv), d(s.d), dtype(s.dtype),
        kc(at::full({nblocks, s.hkv, 16, s.d}, std::numeric_limits<float>::quiet_NaN(), cuda_opts(s.dtype))),
        vc(at::full({nblocks, s.hkv, 16, s.d}, std::numeric_limits<float>::quiet_NaN(), cuda_opts(s.dtype))) {
    free_blocks.resize(static_cast<size_t>(nblocks));
    std::iota(free_blocks.begin(), free_blocks.end(), 0);
    std::shuffle(free_blocks.begin(), free_blocks.end(), std::mt19937_64(7));
  }
  std::vector<int64_t> take(int64_t n) {
    std::vector<int64_t> b(free_blocks.end() - n, free_blocks.end());
    free_blocks.resize(free_blocks.size() - static_cast<size_t>(n));
    return b;
  }
  // Keys and values [T, Hkv, D] of positions 0 .. end - 1 into the cache.
  void write(const std::vector<int64_t>& blocks, const at::Tensor& k, const at::Tensor& v, int64_t end) {
    const at::Tensor j = at::arange(end, at::kLong);
    const at::Tensor blk = at::tensor(blocks, at::kLong).index_select(0, j.div(block, "floor")).to(at::kCUDA);
    const at::Tensor pos = j.remainder(block).to(at::kCUDA);
    kc.index_put_({blk, Slice(), pos}, k.narrow(0, 0, end));
    vc.index_put_({blk, Slice(), pos}, v.narrow(0, 0, end));
  }
  struct Seq {
    int64_t pos0, len;
    const std::vector<int64_t>* blocks;
  };
  // q [N, Hq, D] token-major over `seqs` in order.
  at::Tensor run(const at::Tensor& q, const std::vector<Seq>& seqs) const {
    int64_t width = 0, max_keys = 0, offset = 0;
    for (const Seq& s : seqs) {
      width = std::max<int64_t>(width, static_cast<int64_t>(s.blocks->size()));
      max_keys = std::max(max_keys, s.pos0 + s.len);
    }
    std::vector<int64_t> table, info, lengths;
    for (const Seq& s : seqs) {
      std::vector<int64_t> row(*s.blocks);
      row.resize(static_cast<size_t>(width), 0);
      table.insert(table.end(), row.begin(), row.end());
      info.insert(info.end(), {offset, s.len, s.pos0});
      lengths.push_back(s.len);
      offset += s.len;
    }
    const PagedTiles tiles = paged_tiles(lengths, hq / hkv, hkv);
    const at::Tensor tables = at::tensor(table, at::kLong).view({static_cast<int64_t>(seqs.size()), width}).to(at::kCUDA);
    return ours::paged_attention(q, kc, vc, tables, at::tensor(info, at::kLong).to(at::kCUDA), tiles.map.to(at::kCUDA),
                                 tiles.row_tile, block, 0, max_keys, 1.0 / std::sqrt(static_cast<double>(d)));
  }
};

// Over the paged cache (kernels/paged_attention.h's layout): every position
// of a sequence, computed in a one-shot prefill, in chunks or in decode
// steps beside another sequence, on either kernel, has the bits of the
// dense one-shot prefill.
TEST(CudaAttentionMmaModes, PagedPrefillChunkedAndDecodeEqualDense) {
  SKIP_WITHOUT_GPU();
  for (const Shape& s : mode_shapes()) {
    at::manual_seed(4);
    const int64_t Hq = 4, T = 3 * kKvSplit + 37, T2 = 300;
    const at::Tensor q = at::randn({1, Hq, T, s.d}, cuda_opts(s.dtype));
    const at::Tensor k = at::randn({T, s.hkv, s.d}, cuda_opts(s.dtype)), v = at::randn({T, s.hkv, s.d}, cuda_opts(s.dtype));
    const at::Tensor q2 = at::randn({T2, Hq, s.d}, cuda_opts(s.dtype));
    const at::Tensor k2 = at::randn({T2, s.hkv, s.d}, cuda_opts(s.dtype)), v2 = at::randn({T2, s.hkv, s.d}, cuda_opts(s.dtype));
    at::Tensor dense;
    {
      const AttentionMmaOverride on(true);
      dense = ours::sdpa(q, k.permute({1, 0, 2}).unsqueeze(0), v.permute({1, 0, 2}).unsqueeze(0), std::nullopt, true,
                         std::nullopt, s.hkv != Hq)[0];  // [Hq, T, D]
    }
    const at::Tensor qt = q[0].transpose(0, 1).contiguous();  // [T, Hq, D]
    for (MmaKernel kernel : {MmaKernel::automatic, MmaKernel::walk, MmaKernel::split}) {
      const AttentionMmaOverride on(true, kernel);
      PagedFixture f(s, Hq, (T + 15) / 16 + (T2 + 15) / 16 + 5);
      const std::vector<int64_t> main_blocks = f.take((T + 15) / 16), other_blocks = f.take((T2 + 15) / 16);
      f.write(other_blocks, k2, v2, T2);
      auto expect_rows = [&](const at::Tensor& out, int64_t row0, int64_t start, int64_t n, const char* what) {
        ASSERT_TRUE(bits_equal(out.narrow(0, row0, n), dense.narrow(1, start, n).transpose(0, 1)))
            << what << ": " << s.dtype << " d=" << s.d << " hkv=" << s.hkv << " at " << start << " kernel "
            << static_cast<int>(kernel);
      };
      f.write(main_blocks, k, v, T);
      expect_rows(f.run(qt, {{0, T, &main_blocks}}), 0, 0, T, "one-shot prefill");
      // Chunks of 100 after a neighbour's decode token; decode steps after a neighbour's chunk.
      f.kc.fill_(std::numeric_limits<float>::quiet_NaN());
      f.vc.fill_(std::numeric_limits<float>::quiet_NaN());
      f.write(other_blocks, k2, v2, T2);
      for (int64_t start = 0; start < T; start += 100) {
        const int64_t n = std::min<int64_t>(100, T - start);
        f.write(main_blocks, k, v, start + n);
        const int64_t p2 = (start * 7) % T2;
        const at::Tensor step_q = at::cat({q2.narrow(0, p2, 1), qt.narrow(0, start, n)});
        expect_rows(f.run(step_q, {{p2, 1, &other_blocks}, {start, n, &main_blocks}}), 1, start, n, "chunk");
      }
      for (int64_t pos = 0; pos < T; pos += pos < 40 || pos > T - 40 ? 1 : 37) {
        const int64_t p2 = (pos * 3) % (T2 - 20);
        const at::Tensor step_q = at::cat({q2.narrow(0, p2, 20), qt.narrow(0, pos, 1)});
        expect_rows(f.run(step_q, {{p2, 20, &other_blocks}, {pos, 1, &main_blocks}}), 20, pos, 1, "decode");
      }
    }
  }
}

// transformers' additive masks hide with finfo.min, not -inf: such keys get
// p = 0, and a row masked everywhere averages the values, as aten does.
TEST(CudaAttentionMmaModes, FinfoMinMaskBehavesLikeAten) {
  SKIP_WITHOUT_GPU();
  const AttentionMmaOverride on(true);
  at::manual_seed(10);
  const at::Tensor q = at::randn({2, 4, 33, 64}, cuda_opts(at::kBFloat16));
  const at::Tensor k = at::randn({2, 4, 300, 64}, cuda_opts(at::kBFloat16));
  const at::Tensor v = at::randn({2, 4, 300, 64}, cuda_opts(at::kBFloat16));
  const double lowest = static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
  at::Tensor mask = at::zeros({2, 1, 33, 300}, cuda_opts(at::kFloat));
  mask.masked_fill_(at::rand({2, 1, 33, 300}, cuda_opts(at::kFloat)) < 0.4, lowest);
  mask.select(2, 5).fill_(lowest);  // query 5 is masked everywhere
  mask = mask.to(at::kBFloat16);
  const at::Tensor got = ours::sdpa(q, k, v, mask, false, std::nullopt, false);
  EXPECT_FALSE(got.isnan().any().item<bool>());
  EXPECT_LT(relative_inf_error(got, reference(q, k, v, mask, false)), tolerance(at::kBFloat16));
  EXPECT_LT(relative_inf_error(got.select(2, 5), v.to(at::kDouble).mean(2)), tolerance(at::kBFloat16));
}

// Operands whose rows are not 16-byte aligned are loaded element by element,
// with the same bits.
TEST(CudaAttentionMmaModes, UnalignedOperandsGiveTheSameBits) {
  SKIP_WITHOUT_GPU();
  const AttentionMmaOverride on(true);
  for (int64_t d : {64, 128}) {
    at::manual_seed(5);
    const at::Tensor qb = at::randn({2, 4, 77, d + 1}, cuda_opts(at::kBFloat16));
    const at::Tensor kb = at::randn({2, 2, 300, d + 1}, cuda_opts(at::kBFloat16));
    const at::Tensor vb = at::randn({2, 2, 300, d + 1}, cuda_opts(at::kBFloat16));
    const at::Tensor q = qb.narrow(3, 1, d), k = kb.narrow(3, 1, d), v = vb.narrow(3, 0, d);
    const at::Tensor got = ours::sdpa(q, k, v, std::nullopt, true, std::nullopt, true);
    EXPECT_TRUE(bits_equal(got, ours::sdpa(q.contiguous(), k.contiguous(), v.contiguous(), std::nullopt, true,
                                           std::nullopt, true)))
        << "d=" << d;
  }
}

// The switch changes bf16/fp16 at D 64/128 only; fp32 and other head dims
// keep the CUDA-core kernel's bits.
TEST(CudaAttentionMmaModes, SwitchChoosesByDtypeAndHeadDimOnly) {
  SKIP_WITHOUT_GPU();
  struct Pick {
    at::ScalarType t;
    int64_t d;
    bool mma;
  };
  for (const Pick& c : {Pick{at::kBFloat16, 64, true}, Pick{at::kHalf, 128, true}, Pick{at::kFloat, 64, false},
                        Pick{at::kBFloat16, 80, false}, Pick{at::kHalf, 256, false}}) {
    EXPECT_EQ(attention_mma_supports(c.t, c.d, c.d), c.mma);
    at::manual_seed(6);
    const at::Tensor q = at::randn({1, 4, 50, c.d}, cuda_opts(c.t)), k = at::randn({1, 4, 700, c.d}, cuda_opts(c.t));
    const at::Tensor v = at::randn({1, 4, 700, c.d}, cuda_opts(c.t));
    at::Tensor on_out, off_out;
    {
      const AttentionMmaOverride on(true);
      on_out = ours::sdpa(q, k, v, std::nullopt, false, std::nullopt, false);
    }
    {
      const AttentionMmaOverride off(false);
      off_out = ours::sdpa(q, k, v, std::nullopt, false, std::nullopt, false);
    }
    if (c.mma) {
      EXPECT_FALSE(bits_equal(on_out, off_out)) << c.t << " d=" << c.d << ": the tensor-core order should differ";
      EXPECT_LT(relative_inf_error(on_out, off_out), tolerance(c.t));
    } else {
      EXPECT_TRUE(bits_equal(on_out, off_out)) << c.t << " d=" << c.d;
    }
  }
}

// Negative control 1: the bitwise checks above can fail. The same keys in
// another order (non-causal, no mask: the same attention) agree to float64
// tolerance but not bit for bit.
TEST(CudaAttentionMmaNegative, KeyOrderChangesTheBits) {
  SKIP_WITHOUT_GPU();
  const AttentionMmaOverride on(true);
  at::manual_seed(8);
  const at::Tensor q = at::randn({1, 8, 16, 128}, cuda_opts(at::kBFloat16));
  const at::Tensor k = at::randn({1, 8, 1000, 128}, cuda_opts(at::kBFloat16));
  const at::Tensor v = at::randn({1, 8, 1000, 128}, cuda_opts(at::kBFloat16));
  const at::Tensor perm = at::randperm(1000, cuda_opts(at::kLong));
  const at::Tensor a = ours::sdpa(q, k, v, std::nullopt, false, std::nullopt, false);
  const at::Tensor b = ours::sdpa(q, k.index_select(2, perm), v.index_select(2, perm), std::nullopt, false,
                                  std::nullopt, false);
  EXPECT_LT(relative_inf_error(a, b), tolerance(at::kBFloat16));
  EXPECT_FALSE(bits_equal(a, b)) << "permuted keys gave identical bits: the bitwise checks would prove nothing";
}

// Negative control 2 (kernels/STOCK-DRIFT.md): stock flash attention's
// decode row moves with the batch, or its prefill's last row differs from
// the same row computed decode-style; ours (mma) does neither.
TEST(CudaAttentionMmaNegative, StockFlashDrifts) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(9);
  const int64_t H = 32, D = 128, Tk = 4000, Bmax = 64;
  const at::Tensor q = at::randn({Bmax, H, 1, D}, cuda_opts(at::kBFloat16));
  const at::Tensor k = at::randn({Bmax, H, Tk, D}, cuda_opts(at::kBFloat16));
  const at::Tensor v = at::randn({Bmax, H, Tk, D}, cuda_opts(at::kBFloat16));
  auto flash = [](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
    return std::get<0>(at::_scaled_dot_product_flash_attention(q, k, v, 0.0, causal));
  };
  const AttentionMmaOverride on(true);
  auto mine = [](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
    return ours::sdpa(q, k, v, std::nullopt, causal, std::nullopt, false);
  };
  std::ostringstream seen;
  bool drift = false;
  const at::Tensor alone = flash(q.narrow(0, 0, 1), k.narrow(0, 0, 1), v.narrow(0, 0, 1), false);
  const at::Tensor mine_alone = mine(q.narrow(0, 0, 1), k.narrow(0, 0, 1), v.narrow(0, 0, 1), false);
  for (int64_t b : {int64_t{2}, int64_t{8}, int64_t{64}}) {
    const bool differs = !bits_equal(flash(q.narrow(0, 0, b), k.narrow(0, 0, b), v.narrow(0, 0, b), false).narrow(0, 0, 1), alone);
    drift = drift || differs;
    seen << "decode batch " << b << (differs ? " differs" : " same") << "; ";
    EXPECT_TRUE(bits_equal(mine(q.narrow(0, 0, b), k.narrow(0, 0, b), v.narrow(0, 0, b), false).narrow(0, 0, 1),
                           mine_alone))
        << "ours at batch " << b;
  }
  // Prefill of 1000 tokens: its last row against that query alone over the same keys.
  const at::Tensor pq = at::randn({1, H, 1000, D}, cuda_opts(at::kBFloat16));
  const at::Tensor pk = k.narrow(0, 0, 1).narrow(2, 0, 1000), pv = v.narrow(0, 0, 1).narrow(2, 0, 1000);
  const at::Tensor last = pq.narrow(2, 999, 1);
  const bool prefill_differs = !bits_equal(flash(pq, pk, pv, true).narrow(2, 999, 1), flash(last, pk, pv, false));
  drift = drift || prefill_differs;
  seen << "prefill last row vs decode " << (prefill_differs ? "differs" : "same");
  EXPECT_TRUE(bits_equal(mine(pq, pk, pv, true).narrow(2, 999, 1), mine(last, pk, pv, false)))
      << "ours: prefill last row vs decode";
  std::cout << "stock flash attention: " << seen.str() << "\n";
  EXPECT_TRUE(drift) << "stock flash attention showed no drift: " << seen.str();
}

}  // namespace
}  // namespace lockstep::kernels::cuda

#else

TEST(CudaAttentionMma, NeedsCuda) { GTEST_SKIP() << "built without CUDA"; }

#endif  // LOCKSTEP_WITH_CUDA

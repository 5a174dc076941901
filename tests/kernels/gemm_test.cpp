// The CPU GEMM family (kernels/cpu/gemm*.cpp), table-driven: one row per
// op x dtype x shape x layout. Every row is checked for
//   - batch invariance: each row of A, alone and inside ragged batches of
//     M = 1..512 with random co-batched rows, gives the same output bits;
//   - accuracy against a float64 reference:
//       fp32: ||out - ref||_inf / ||ref||_inf < 1e-5  (K <= 4096)
//       bf16: < 2^-8 (inputs are exact in fp32; the one rounding of the
//             output to bf16 costs up to 2^-9 relative, the fp32
//             accumulation far less).
// Further tests pin THE ORDER itself (an independent reference written
// here), its ISA independence (scalar, AVX2, AVX-512 give equal bits), thread
// count independence, and the edge cases of aten's mm/addmm/bmm.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ops/mm_cpu_dispatch.h>
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "kernels/cpu/gemm_kernel.h"
#include "kernels/cpu/ops.h"
#include "tests/kernels/invariance.h"

namespace lockstep::kernels {
namespace {

using testing::bits_equal;
using testing::check_rows_invariant;
using testing::relative_inf_error;

enum class Op { mm, addmm, bmm };
// How the operands are laid out in memory (values are the same):
//   linear:    b = W.t() for W [N, K] contiguous (what at::linear passes)
//   row_major: b [K, N] contiguous (packed by the kernel)
//   a_colmajor: a is the transpose of a contiguous [K, M] (packed)
//   padded:    a and W are column slices of wider tensors (lda, ldb > K)
//   k_strided: a steps 2 elements along k (packed)
enum class Layout { linear, row_major, a_colmajor, padded, k_strided };

struct GemmCase {
  std::string name;
  Op op;
  at::ScalarType dtype;
  int64_t K, N;
  Layout layout = Layout::linear;
  std::vector<int64_t> ms = testing::ragged_batch_sizes();
};

const std::vector<int64_t> kFewMs = {1, 2, 7, 16, 33, 64, 128, 257};

std::vector<GemmCase> cases() {
  const auto f32 = at::kFloat, bf16 = at::kBFloat16;
  return {
      // SmolLM2-135M projections (hidden 576, kv 192, mlp 1536, vocab 49152).
      {"mm_f32_K576_N576", Op::mm, f32, 576, 576},
      {"mm_f32_K576_N192", Op::mm, f32, 576, 192},
      {"mm_f32_K576_N1536", Op::mm, f32, 576, 1536},
      {"mm_f32_K1536_N576", Op::mm, f32, 1536, 576},
      {"mm_f32_K576_N49152_lmhead", Op::mm, f32, 576, 49152, Layout::linear, kFewMs},
      {"mm_bf16_K576_N576", Op::mm, bf16, 576, 576},
      {"mm_bf16_K576_N1536", Op::mm, bf16, 576, 1536},
      {"mm_bf16_K1536_N576", Op::mm, bf16, 1536, 576},
      {"mm_bf16_K576_N49152_lmhead", Op::mm, bf16, 576, 49152, Layout::linear, kFewMs},
      // Odd and tiny K and N: tails, clamped edge tiles.
      {"mm_f32_K1_N37", Op::mm, f32, 1, 37},
      {"mm_f32_K7_N5", Op::mm, f32, 7, 5},
      {"mm_f32_K17_N1", Op::mm, f32, 17, 1},
      {"mm_f32_K1000_N97", Op::mm, f32, 1000, 97},
      {"mm_f32_K4096_N33", Op::mm, f32, 4096, 33, Layout::linear, kFewMs},
      {"mm_bf16_K1_N3", Op::mm, bf16, 1, 3},
      {"mm_bf16_K7_N19", Op::mm, bf16, 7, 19},
      {"mm_bf16_K1000_N64", Op::mm, bf16, 1000, 64},
      // Layouts other than linear's.
      {"mm_f32_rowmajor_K576_N192", Op::mm, f32, 576, 192, Layout::row_major},
      {"mm_bf16_rowmajor_K100_N70", Op::mm, bf16, 100, 70, Layout::row_major},
      {"mm_f32_acolmajor_K100_N50", Op::mm, f32, 100, 50, Layout::a_colmajor},
      {"mm_f32_padded_K576_N64", Op::mm, f32, 576, 64, Layout::padded},
      {"mm_bf16_padded_K33_N40", Op::mm, bf16, 33, 40, Layout::padded},
      {"mm_f32_kstrided_K65_N30", Op::mm, f32, 65, 30, Layout::k_strided},
      // addmm: a linear layer with bias, and odd alpha / beta.
      {"addmm_f32_K576_N576", Op::addmm, f32, 576, 576},
      {"addmm_bf16_K576_N192", Op::addmm, bf16, 576, 192},
      {"addmm_f32_rowmajor_K17_N23", Op::addmm, f32, 17, 23, Layout::row_major},
      // bmm over 3 batch entries: attention-like Q K^T (linear layout) and P V.
      {"bmm_f32_K64_N64", Op::bmm, f32, 64, 64},
      {"bmm_f32_rowmajor_K100_N64", Op::bmm, f32, 100, 64, Layout::row_major},
      {"bmm_bf16_K64_N100", Op::bmm, bf16, 64, 100},
  };
}

constexpr int64_t kBmmBatch = 3;
constexpr double kAlpha = 0.75, kBeta = -1.5;

// One table row's fixed operands, and the function from a batch of A rows
// [M, K] (always contiguous fp32/bf16) to output rows [M, ...].
struct Fixture {
  GemmCase c;
  at::Tensor w;     // [N, K] (bmm: [B, N, K]) values of the right operand
  at::Tensor bias;  // [N]

  explicit Fixture(const GemmCase& gc) : c(gc) {
    at::manual_seed(static_cast<uint64_t>(gc.K * 1000003 + gc.N));
    const std::vector<int64_t> shape =
        c.op == Op::bmm ? std::vector<int64_t>{kBmmBatch, c.N, c.K} : std::vector<int64_t>{c.N, c.K};
    w = at::randn(shape).to(c.dtype);
    bias = at::randn({c.N}).to(c.dtype);
  }

  // Right operand [.., K, N] in the row's layout.
  at::Tensor right() const {
    switch (c.layout) {
      case Layout::row_major: return w.transpose(-1, -2).contiguous();
      case Layout::padded: {
        std::vector<int64_t> wide(w.sizes().begin(), w.sizes().end());
        wide.back() += 5;
        at::Tensor big = at::zeros(wide, w.options());
        big.narrow(-1, 0, c.K).copy_(w);
        return big.narrow(-1, 0, c.K).transpose(-1, -2);
      }
      default: return w.transpose(-1, -2);
    }
  }

  // Left operand with the row's layout, same values as `rows`.
  at::Tensor left(const at::Tensor& rows) const {
    switch (c.layout) {
      case Layout::a_colmajor: return rows.t().contiguous().t();
      case Layout::padded: {
        at::Tensor big = at::zeros({rows.size(0), c.K + 3}, rows.options());
        big.narrow(1, 0, c.K).copy_(rows);
        return big.narrow(1, 0, c.K);
      }
      case Layout::k_strided: {
        at::Tensor big = at::zeros({rows.size(0), 2 * c.K}, rows.options());
        at::Tensor view = big.slice(1, 0, 2 * c.K, 2);
        view.copy_(rows);
        return view;
      }
      default: return rows;
    }
  }

  at::Tensor run(const at::Tensor& rows) const {
    const at::Tensor a = left(rows), b = right();
    switch (c.op) {
      case Op::mm: return cpu::mm(a, b);
      case Op::addmm: return cpu::addmm(bias, a, b, kBeta, kAlpha);
      case Op::bmm: {
        // Batch entry i multiplies (i + 1) * rows; output [M, B, N].
        const at::Tensor scale = at::arange(1, kBmmBatch + 1, a.options()).view({kBmmBatch, 1, 1});
        const at::Tensor a3 = (a.unsqueeze(0) * scale).to(c.dtype);
        return cpu::bmm(a3, b).transpose(0, 1);
      }
    }
    return {};
  }

  at::Tensor reference(const at::Tensor& rows) const {
    const at::Tensor a = rows.to(at::kDouble), wt = w.to(at::kDouble).transpose(-1, -2);
    switch (c.op) {
      case Op::mm: return at::mm(a, wt);
      case Op::addmm: return at::mm(a, wt) * kAlpha + bias.to(at::kDouble) * kBeta;
      case Op::bmm: {
        const at::Tensor scale = at::arange(1, kBmmBatch + 1, a.options()).view({kBmmBatch, 1, 1});
        const at::Tensor a3 = (rows.unsqueeze(0).to(at::kFloat) * scale.to(at::kFloat)).to(c.dtype);
        return at::bmm(a3.to(at::kDouble), wt).transpose(0, 1);
      }
    }
    return {};
  }

  at::Tensor pool(int64_t rows) const { return at::randn({rows, c.K}).to(c.dtype); }
};

class GemmTable : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmTable, RowsAreBatchInvariant) {
  const Fixture f(GetParam());
  EXPECT_TRUE(check_rows_invariant([&](const at::Tensor& x) { return f.run(x); }, f.pool(48), f.c.ms));
}

TEST_P(GemmTable, MatchesFloat64Reference) {
  const Fixture f(GetParam());
  const at::Tensor rows = f.pool(37);
  const double tol = f.c.dtype == at::kFloat ? 1e-5 : std::ldexp(1.0, -8);
  const at::Tensor out = f.run(rows);
  EXPECT_EQ(out.scalar_type(), f.c.dtype);
  EXPECT_LT(relative_inf_error(out, f.reference(rows)), tol);
}

INSTANTIATE_TEST_SUITE_P(Cpu, GemmTable, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<GemmCase>& info) { return info.param.name; });

// THE ORDER (kernels/cpu/gemm_kernel.h), written out independently of the
// library: 16 lanes over k mod 16, sequential fma, tree 8/4/2/1.
float order_reference(const float* a, const float* b, int64_t K) {
  float lane[16] = {};
  for (int64_t k = 0; k < K; ++k) lane[k % 16] = std::fma(a[k], b[k], lane[k % 16]);
  for (int l = 0; l < 8; ++l) lane[l] += lane[l + 8];
  for (int l = 0; l < 4; ++l) lane[l] += lane[l + 4];
  for (int l = 0; l < 2; ++l) lane[l] += lane[l + 2];
  return lane[0] + lane[1];
}

TEST(GemmOrder, EveryElementFollowsTheDefinedOrder) {
  at::manual_seed(3);
  for (int64_t K : {1, 7, 15, 16, 17, 33, 576, 1000}) {
    const at::Tensor a = at::randn({9, K}), w = at::randn({21, K});
    const at::Tensor out = cpu::mm(a, w.t());
    for (int64_t m = 0; m < 9; ++m) {
      for (int64_t n = 0; n < 21; ++n) {
        const float want = order_reference(a[m].data_ptr<float>(), w[n].data_ptr<float>(), K);
        ASSERT_EQ(out[m][n].item<float>(), want) << "K=" << K << " m=" << m << " n=" << n;
      }
    }
  }
}

// Appending zero terms changes nothing: the order is a function of K only
// and +0 products are no-ops in it.
TEST(GemmOrder, ZeroPaddingKKeepsBits) {
  at::manual_seed(4);
  const at::Tensor a = at::randn({11, 45}), w = at::randn({13, 45});
  const at::Tensor pa = at::cat({a, at::zeros({11, 19})}, 1), pw = at::cat({w, at::zeros({13, 19})}, 1);
  EXPECT_TRUE(bits_equal(cpu::mm(pa, pw.t()), cpu::mm(a, w.t())));
}

// bf16 inputs widen exactly to fp32, so a bf16 product is the fp32 product
// of the widened inputs, rounded once.
TEST(GemmOrder, Bf16IsFp32OfWidenedInputsRoundedOnce) {
  at::manual_seed(5);
  const at::Tensor a = at::randn({19, 300}).to(at::kBFloat16), w = at::randn({77, 300}).to(at::kBFloat16);
  const at::Tensor wide = cpu::mm(a.to(at::kFloat), w.to(at::kFloat).t());
  EXPECT_TRUE(bits_equal(cpu::mm(a, w.t()), wide.to(at::kBFloat16)));
}

class IsaGuard {
 public:
  explicit IsaGuard(cpu::gemm::Isa isa) : previous_(cpu::gemm::use_isa(isa)) {}
  ~IsaGuard() { cpu::gemm::use_isa(previous_); }

 private:
  cpu::gemm::Isa previous_;
};

TEST(GemmIsa, EveryPathGivesTheSameBits) {
  using cpu::gemm::Isa;
  at::manual_seed(6);
  std::vector<Isa> paths;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (cpu::gemm::isa_supported(isa)) paths.push_back(isa);
  }
  if (paths.size() < 3) std::cout << "[ note ] this CPU runs " << paths.size() << " of the 3 GEMM paths\n";
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    for (int64_t K : {1, 5, 16, 31, 200}) {
      for (int64_t M : {1, 2, 3, 4, 7, 9, 70}) {
        const at::Tensor a = at::randn({M, K}).to(dtype), w = at::randn({37, K}).to(dtype);
        const at::Tensor bias = at::randn({37}).to(dtype);
        at::Tensor want_mm, want_addmm;
        for (Isa isa : paths) {
          IsaGuard guard(isa);
          const at::Tensor got_mm = cpu::mm(a, w.t()), got_addmm = cpu::addmm(bias, a, w.t(), 0.5, 3.0);
          if (!want_mm.defined()) {
            want_mm = got_mm;
            want_addmm = got_addmm;
            continue;
          }
          EXPECT_TRUE(bits_equal(got_mm, want_mm)) << cpu::gemm::isa_name(isa) << " K=" << K << " M=" << M;
          EXPECT_TRUE(bits_equal(got_addmm, want_addmm)) << cpu::gemm::isa_name(isa) << " K=" << K;
        }
      }
    }
  }
}

TEST(GemmThreads, ThreadCountDoesNotChangeBits) {
  at::manual_seed(7);
  const at::Tensor a = at::randn({130, 576}), w = at::randn({1536, 576});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor one = cpu::mm(a, w.t());
  at::set_num_threads(4);   // several, whatever the default (ctest runs with OMP_NUM_THREADS=1)
  const at::Tensor four = cpu::mm(a, w.t());
  at::set_num_threads(threads);
  EXPECT_TRUE(bits_equal(four, one));
}

TEST(GemmBmm, BatchEntriesDoNotDependOnTheBatchCount) {
  at::manual_seed(8);
  const at::Tensor a = at::randn({9, 17, 64}), b = at::randn({9, 40, 64}).transpose(1, 2);
  const at::Tensor all = cpu::bmm(a, b);
  for (int64_t i : {0, 4, 8}) {
    EXPECT_TRUE(bits_equal(cpu::bmm(a.narrow(0, i, 1), b.narrow(0, i, 1)), all.narrow(0, i, 1))) << i;
    EXPECT_TRUE(bits_equal(cpu::mm(a[i], b[i]), all[i])) << i;
  }
}

TEST(GemmEdges, EmptyAndZeroK) {
  const at::Tensor a = at::randn({3, 0}), b = at::randn({0, 4});
  EXPECT_TRUE(bits_equal(cpu::mm(a, b), at::zeros({3, 4})));
  EXPECT_EQ(cpu::mm(at::randn({0, 5}), at::randn({5, 4})).sizes(), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(cpu::mm(at::randn({3, 5}), at::randn({5, 0})).sizes(), (std::vector<int64_t>{3, 0}));
  const at::Tensor bias = at::full({4}, 2.0f);
  EXPECT_TRUE(bits_equal(cpu::addmm(bias, a, b, 0.5, 1.0), at::ones({3, 4})));
}

TEST(GemmEdges, BetaZeroIgnoresTheBiasEvenNaN) {
  const at::Tensor a = at::randn({4, 8}), b = at::randn({8, 5});
  const at::Tensor nan_bias = at::full({5}, std::nanf(""));
  EXPECT_TRUE(bits_equal(cpu::addmm(nan_bias, a, b, 0.0, 1.0), cpu::mm(a, b)));
}

// Every broadcastable bias shape; the epilogue is alpha * dot + beta * bias
// with each product and the sum rounded separately.
TEST(GemmEdges, BiasShapesAndScalars) {
  at::manual_seed(9);
  const at::Tensor a = at::randn({6, 40}), b = at::randn({40, 7});
  const at::Tensor dot = cpu::mm(a, b);
  const std::vector<std::vector<int64_t>> shapes = {{}, {7}, {1, 7}, {6, 1}, {6, 7}};
  for (const auto& shape : shapes) {
    const at::Tensor bias = at::randn(shape);
    const at::Tensor want = at::add(at::mul(dot, 1.25), at::mul(bias, -0.5));
    EXPECT_TRUE(bits_equal(cpu::addmm(bias, a, b, -0.5, 1.25), want)) << bias.sizes();
  }
  // A transposed [N, M] bias viewed as [M, N] (non-unit column stride).
  const at::Tensor bias_t = at::randn({7, 6}).t();
  EXPECT_TRUE(bits_equal(cpu::addmm(bias_t, a, b, 1.0, 1.0), at::add(dot, bias_t)));
}

TEST(GemmEdges, RefusesWhatItDoesNotImplement) {
  EXPECT_THROW(cpu::mm(at::randn({2, 3}, at::kDouble), at::randn({3, 2}, at::kDouble)), c10::Error);
  EXPECT_THROW(cpu::mm(at::randn({2, 3}), at::randn({3, 2}).to(at::kBFloat16)), c10::Error);
  EXPECT_THROW(cpu::mm(at::randn({2, 3}), at::randn({4, 2})), c10::Error);
  EXPECT_THROW(cpu::bmm(at::randn({2, 2, 3}), at::randn({3, 3, 2})), c10::Error);
}

}  // namespace
}  // namespace lockstep::kernels

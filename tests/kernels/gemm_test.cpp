// The CPU GEMM family (kernels/cpu/gemm*.cpp): THE ORDER itself (an
// independent reference written here), its ISA independence (scalar, AVX2,
// AVX-512 give equal bits), thread count independence, batch entries of bmm,
// and the edge cases of aten's mm/addmm/bmm. Accuracy against float64 and
// batch invariance through aten, for SmolLM2's projections, odd shapes and
// other layouts: backend_ops_test.cpp's rows mm, addmm and bmm.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <vector>

#include "kernels/cpu/gemm_kernel.h"
#include "kernels/cpu/ops.h"
#include "tests/kernels/invariance.h"

namespace lockstep::kernels {
namespace {

using testing::bits_equal;

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

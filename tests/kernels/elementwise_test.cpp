// CPU silu and sigmoid (kernels/cpu/elementwise.cpp): stock drifts with the
// batch once a thread's chunk ends off a vector boundary; ours does not, on
// any ISA; special values as stock; the dispatcher runs ours behind the mode.
// Accuracy against float64 and batch invariance through aten (at 1, 3 and the
// default thread count): backend_ops_test.cpp's rows silu, silu_, sigmoid, sigmoid_.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ops/silu_cpu_dispatch.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/ops.h"
#include "kernels/mode.h"
#include "tests/kernels/invariance.h"

namespace lockstep::kernels {
namespace {

namespace lanes = cpu::lanes;

struct UnaryCase {
  const char* name;
  std::function<at::Tensor(const at::Tensor&)> ours;
  std::function<at::Tensor(const at::Tensor&)> stock;
};

const std::vector<UnaryCase>& cases() {
  static const std::vector<UnaryCase> c = {
      {"silu", [](const at::Tensor& x) { return cpu::silu(x); }, [](const at::Tensor& x) { return at::silu(x); }},
      {"sigmoid", [](const at::Tensor& x) { return cpu::sigmoid(x); },
       [](const at::Tensor& x) { return at::sigmoid(x); }},
  };
  return c;
}

at::Tensor pool_rows(int64_t rows, int64_t n, at::ScalarType dt, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return (at::randn({rows, n}, g) * 4.0).to(dt);
}

// Batch sizes (rows of 1536, SmolLM2's MLP width) at which some row of the
// stock op differs from the same rows in the full pool.
std::vector<int64_t> stock_drift(const UnaryCase& c, const at::Tensor& pool) {
  const at::Tensor all = c.stock(pool);
  std::vector<int64_t> drift;
  for (int64_t m = 50; m <= pool.size(0); m += 7)
    if (!at::equal(c.stock(pool.narrow(0, 0, m).contiguous()), all.narrow(0, 0, m))) drift.push_back(m);
  return drift;
}

// The premise: with 16 threads the stock fp32 kernels give an element
// different bits depending on the tensor's size.
TEST(Elementwise, StockDriftsWithTheBatchOnManyThreads) {
  const ModeGuard off(Mode::off);
  testing::ThreadCount threads(16);
  const at::Tensor pool = pool_rows(300, 1536, at::kFloat, 3);
  for (const UnaryCase& c : cases())
    EXPECT_FALSE(stock_drift(c, pool).empty()) << c.name << ": stock no longer drifts; the premise of "
                                               << "kernels/cpu/elementwise.cpp needs another look";
}

TEST(Elementwise, IsaVariantsGiveTheSameBits) {
  const at::Tensor x = pool_rows(7, 1000, at::kFloat, 11);
  for (const UnaryCase& c : cases()) {
    lanes::force_isa(lanes::Isa::baseline);
    const at::Tensor base = c.ours(x);
    for (lanes::Isa isa : {lanes::Isa::avx2, lanes::Isa::avx512}) {
      if (!lanes::force_isa(isa)) continue;
      EXPECT_TRUE(testing::bits_equal(c.ours(x), base)) << c.name << " " << lanes::isa_name(isa);
    }
    lanes::reset_isa();
  }
}

TEST(Elementwise, SpecialValuesFollowStock) {
  const float inf = std::numeric_limits<float>::infinity();
  const at::Tensor x = at::tensor({inf, -inf, std::nanf(""), -0.0f, 0.0f, -100.0f, 100.0f, -1e-40f, 88.0f, -88.0f});
  const ModeGuard off(Mode::off);
  for (const UnaryCase& c : cases()) {
    const at::Tensor got = c.ours(x), want = c.stock(x);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float g = got[i].item<float>(), w = want[i].item<float>();
      if (std::isnan(w)) {
        EXPECT_TRUE(std::isnan(g)) << c.name << "(" << x[i].item<float>() << ")";
      } else if (std::isinf(w)) {
        EXPECT_EQ(g, w) << c.name << "(" << x[i].item<float>() << ")";
      } else {
        EXPECT_EQ(std::signbit(g), std::signbit(w)) << c.name << "(" << x[i].item<float>() << ")";
        EXPECT_NEAR(g, w, 4e-7 * std::fabs(w)) << c.name << "(" << x[i].item<float>() << ")";
      }
    }
  }
}

// Through the dispatcher: off is stock bit for bit, batch_invariant is ours,
// in place included; strided inputs and other dtypes are handled.
TEST(Elementwise, RegisteredOverAtenBehindTheMode) {
  const at::Tensor x = pool_rows(33, 130, at::kFloat, 9);
  {
    const ModeGuard off(Mode::off);
    EXPECT_TRUE(testing::bits_equal(at::silu(x), at::cpu::silu(x)));
  }
  const ModeGuard on(Mode::batch_invariant);
  EXPECT_TRUE(testing::bits_equal(at::silu(x), cpu::silu(x)));
  EXPECT_TRUE(testing::bits_equal(at::sigmoid(x), cpu::sigmoid(x)));
  at::Tensor y = x.clone();
  at::silu_(y);
  EXPECT_TRUE(testing::bits_equal(y, cpu::silu(x)));
  at::Tensor z = x.clone();
  z.sigmoid_();
  EXPECT_TRUE(testing::bits_equal(z, cpu::sigmoid(x)));
  const at::Tensor t = x.t();  // not contiguous
  EXPECT_TRUE(testing::bits_equal(at::silu(t).contiguous(), cpu::silu(x).t().contiguous()));
  const at::Tensor d = x.to(at::kDouble);
  EXPECT_TRUE(at::allclose(at::silu(d), d / (1 + at::exp(-d))));  // double: stock path
}

}  // namespace
}  // namespace lockstep::kernels

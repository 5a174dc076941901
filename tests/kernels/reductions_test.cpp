// CPU row kernels (softmax, log_softmax, sum, mean, layer_norm, rms_norm):
// the same bits on every ISA variant, exp and log's accuracy, aten semantics
// (shapes, dtypes, dims, NaN/inf, empty rows). Accuracy against float64 and
// batch invariance through aten (at 1, 3 and the default thread count):
// backend_ops_test.cpp's rows.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/ops.h"
#include "tests/kernels/invariance.h"

namespace lockstep::kernels::cpu {
namespace {

using Outputs = std::vector<at::Tensor>;  // every tensor has the rows in dim 0

// One op: run on [M, n] rows.
struct RowOp {
  std::string name;
  std::function<Outputs(const at::Tensor&)> run;
};

// Affine parameters depend on n only, like a model's weights.
at::Tensor param(int64_t n, int salt) {
  at::Generator g = at::detail::createCPUGenerator(1000 + 17 * n + salt);
  return (at::randn({n}, g, at::kFloat) * 0.5 + 1.0).to(at::kBFloat16).to(at::kFloat);
}

std::vector<RowOp> row_ops() {
  const double eps = 1e-5;
  return {
      {"softmax", [](const at::Tensor& x) { return Outputs{cpu::softmax(x, -1, false)}; }},
      {"log_softmax", [](const at::Tensor& x) { return Outputs{cpu::log_softmax(x, -1, false)}; }},
      {"sum", [](const at::Tensor& x) { return Outputs{cpu::sum(x, at::IntArrayRef{-1}, true, std::nullopt)}; }},
      {"mean", [](const at::Tensor& x) { return Outputs{cpu::mean(x, at::IntArrayRef{1}, true, std::nullopt)}; }},
      {"layer_norm",
       [=](const at::Tensor& x) {
         const int64_t n = x.size(1);
         auto [y, mu, rs] = cpu::layer_norm(x, {n}, param(n, 0).to(x.scalar_type()), param(n, 1).to(x.scalar_type()), eps);
         return Outputs{y, mu, rs};
       }},
      {"rms_norm",
       [](const at::Tensor& x) {
         const int64_t n = x.size(1);
         auto [y, rs] = cpu::rms_norm(x, {n}, param(n, 2).to(x.scalar_type()), 1e-6);
         return Outputs{y, rs};
       }},
  };
}

// Rows of very different scales and offsets, so that a kernel whose order
// depended on its neighbours would show it.
at::Tensor random_rows(int64_t m, int64_t n, at::ScalarType dt, std::mt19937& rng) {
  at::Generator g = at::detail::createCPUGenerator(rng());
  return (at::randn({m, n}, g) * at::exp(at::randn({m, 1}, g) * 3.0) + at::randn({m, 1}, g) * 10.0).to(dt);
}

// Each ISA variant (AVX-512, AVX2, baseline) is the same definition.
TEST(RowKernels, IsaVariantsGiveTheSameBits) {
  std::mt19937 rng(5);
  for (const RowOp& op : row_ops())
    for (at::ScalarType dt : {at::kFloat, at::kBFloat16})
      for (int64_t n : {1, 15, 33, 576, 4097}) {
        const at::Tensor x = random_rows(9, n, dt, rng);
        lanes::force_isa(lanes::Isa::baseline);
        const Outputs base = op.run(x);
        for (lanes::Isa isa : {lanes::Isa::avx2, lanes::Isa::avx512}) {
          if (!lanes::force_isa(isa)) continue;
          const Outputs got = op.run(x);
          for (size_t t = 0; t < got.size(); ++t)
            EXPECT_TRUE(testing::bits_equal(got[t], base[t])) << op.name << " " << dt << " n=" << n << " " << lanes::isa_name(isa);
        }
        lanes::reset_isa();
      }
}

TEST(RowKernels, ExpAndLogAreAccurate) {
  // Every float in [-103, 88.7] on a fine grid, and log over (0, inf).
  double worst_exp = 0, worst_log = 0;
  for (double x = -87.0; x < 88.7; x += 0.0137) {
    const float xf = static_cast<float>(x);
    const double ref = std::exp(static_cast<double>(xf));
    const double ulp = std::nextafter(static_cast<float>(ref), INFINITY) - static_cast<float>(ref);
    worst_exp = std::max(worst_exp, std::abs(lanes::exp1(xf) - ref) / ulp);
  }
  for (double x = 1e-37; x < 3e38; x *= 1.0137) {
    const float xf = static_cast<float>(x);
    const double ref = std::log(static_cast<double>(xf));
    const double ulp = std::abs(std::nextafter(static_cast<float>(ref), INFINITY) - static_cast<float>(ref));
    worst_log = std::max(worst_log, std::abs(lanes::log1(xf) - ref) / std::max(ulp, 1e-45));
  }
  if (std::getenv("LOCKSTEP_PRINT_ERRORS")) std::printf("exp %.3f ulp, log %.3f ulp\n", worst_exp, worst_log);
  EXPECT_LE(worst_exp, 2.0) << "exp error in ulp";
  EXPECT_LE(worst_log, 0.51) << "log error in ulp";
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(lanes::exp1(-inf), 0.0f);
  EXPECT_EQ(lanes::exp1(inf), inf);
  EXPECT_EQ(lanes::exp1(100.0f), inf);
  EXPECT_EQ(lanes::exp1(-200.0f), 0.0f);
  EXPECT_EQ(lanes::exp1(0.0f), 1.0f);
  EXPECT_GT(lanes::exp1(-100.0f), 0.0f);  // subnormal, not flushed
  EXPECT_TRUE(std::isnan(lanes::exp1(std::nanf(""))));
  EXPECT_EQ(lanes::log1(1.0f), 0.0f);
  EXPECT_EQ(lanes::log1(0.0f), -inf);
  EXPECT_EQ(lanes::log1(inf), inf);
  EXPECT_TRUE(std::isnan(lanes::log1(-1.0f)));
}

TEST(Softmax, OtherDimsEqualTheLastDimOfTheMovedTensor) {
  at::manual_seed(3);
  const at::Tensor x = at::randn({5, 37, 6});
  for (int64_t dim : {0, 1, -2}) {
    const at::Tensor moved = x.movedim(dim, -1).contiguous();
    EXPECT_TRUE(testing::bits_equal(cpu::softmax(x, dim, false), cpu::softmax(moved, -1, false).movedim(-1, dim)));
    EXPECT_TRUE(testing::bits_equal(cpu::log_softmax(x, dim, false), cpu::log_softmax(moved, -1, false).movedim(-1, dim)));
    EXPECT_TRUE(at::allclose(cpu::softmax(x, dim, false), at::softmax(x, dim), 1e-5, 1e-7));
  }
  EXPECT_TRUE(testing::bits_equal(cpu::softmax(at::tensor(2.5f).reshape({}), 0, false), at::tensor(1.0f).reshape({})));
  // a non-contiguous input gives the bits of its contiguous copy
  const at::Tensor t = at::randn({64, 40}).t();
  EXPECT_TRUE(testing::bits_equal(cpu::softmax(t, -1, false), cpu::softmax(t.contiguous(), -1, false)));
}

TEST(Softmax, HalfToFloatGivesFp32FromBf16) {
  at::manual_seed(4);
  const at::Tensor x = at::randn({3, 300}).to(at::kBFloat16);
  const at::Tensor y = cpu::softmax(x, -1, true);
  EXPECT_EQ(y.scalar_type(), at::kFloat);
  EXPECT_TRUE(testing::bits_equal(y, cpu::softmax(x.to(at::kFloat), -1, false)));
  EXPECT_THROW(cpu::softmax(x.to(at::kFloat), -1, true), c10::Error);
}

TEST(Softmax, NanAndInfinityFollowStock) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const at::Tensor x = at::tensor({1.0f, inf, 2.0f, -inf, -inf, -inf, 1.0f, nan, 2.0f, 1.0f, 2.0f, -inf})
                           .reshape({4, 3});
  for (bool log : {false, true}) {
    const at::Tensor got = log ? cpu::log_softmax(x, -1, false) : cpu::softmax(x, -1, false);
    const at::Tensor stock = log ? at::log_softmax(x, -1) : at::softmax(x, -1);
    EXPECT_TRUE(at::isnan(got.slice(0, 0, 3)).all().item<bool>()) << log;
    EXPECT_TRUE(at::allclose(got[3], stock[3])) << log;
    EXPECT_EQ(got[3][2].item<float>(), log ? -inf : 0.0f);
  }
}

TEST(Sum, DimsKeepdimDtypeAndAllDims) {
  at::manual_seed(6);
  const at::Tensor x = at::randn({4, 5, 33});
  // dims {0, 2}: the row is the flattened (d0, d2) block in index order
  const at::Tensor got = cpu::sum(x, at::IntArrayRef{0, 2}, false, std::nullopt);
  const at::Tensor rows = x.permute({1, 0, 2}).reshape({5, -1});
  EXPECT_TRUE(testing::bits_equal(got, cpu::sum(rows, at::IntArrayRef{-1}, false, std::nullopt)));
  EXPECT_TRUE(at::allclose(got, x.sum(at::IntArrayRef{0, 2}), 1e-5, 1e-5));
  EXPECT_EQ(cpu::sum(x, at::IntArrayRef{0, 2}, true, std::nullopt).sizes(), (std::vector<int64_t>{1, 5, 1}));
  EXPECT_EQ(cpu::sum(x, std::nullopt, false, std::nullopt).dim(), 0);
  EXPECT_TRUE(testing::bits_equal(cpu::sum(x, std::nullopt, false, std::nullopt),
                        cpu::sum(x.reshape({1, -1}), at::IntArrayRef{1}, false, std::nullopt).reshape({})));
  EXPECT_TRUE(testing::bits_equal(cpu::sum(x, at::IntArrayRef{}, false, std::nullopt),
                        cpu::sum(x, std::nullopt, false, std::nullopt)));
  EXPECT_EQ(cpu::sum(x, at::IntArrayRef{0}, false, std::nullopt).sizes(), (std::vector<int64_t>{5, 33}));
  const at::Tensor b = x.to(at::kBFloat16);
  EXPECT_EQ(cpu::sum(b, at::IntArrayRef{-1}, false, std::nullopt).scalar_type(), at::kBFloat16);
  const at::Tensor wide = cpu::sum(b, at::IntArrayRef{-1}, false, at::kFloat);
  EXPECT_EQ(wide.scalar_type(), at::kFloat);
  EXPECT_TRUE(testing::bits_equal(wide, cpu::sum(b.to(at::kFloat), at::IntArrayRef{-1}, false, std::nullopt)));
  EXPECT_TRUE(testing::bits_equal(cpu::mean(x, at::IntArrayRef{1}, false, std::nullopt),
                        cpu::sum(x, at::IntArrayRef{1}, false, std::nullopt) / 5.0f));
  EXPECT_THROW(cpu::sum(x, at::IntArrayRef{1, -2}, false, std::nullopt), c10::Error);
  EXPECT_THROW(cpu::sum(x.to(at::kDouble), at::IntArrayRef{1}, false, std::nullopt), c10::Error);
  EXPECT_THROW(cpu::sum(at::ones({3}, at::kInt), at::IntArrayRef{0}, false, std::nullopt), c10::Error);
}

TEST(Sum, NanInfAndEmptyRows) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const at::Tensor x = at::tensor({1.0f, inf, 2.0f, 1.0f, inf, -inf, 1.0f, nan, 2.0f}).reshape({3, 3});
  const at::Tensor s = cpu::sum(x, at::IntArrayRef{-1}, false, std::nullopt);
  EXPECT_EQ(s[0].item<float>(), inf);
  EXPECT_TRUE(std::isnan(s[1].item<float>()));
  EXPECT_TRUE(std::isnan(s[2].item<float>()));
  const at::Tensor empty = at::empty({3, 0});
  EXPECT_TRUE(testing::bits_equal(cpu::sum(empty, at::IntArrayRef{-1}, false, std::nullopt), at::zeros({3})));
  EXPECT_TRUE(at::isnan(cpu::mean(empty, at::IntArrayRef{-1}, false, std::nullopt)).all().item<bool>());
  EXPECT_EQ(cpu::sum(at::empty({0, 7}), at::IntArrayRef{-1}, false, std::nullopt).numel(), 0);
  EXPECT_EQ(cpu::softmax(empty, -1, false).sizes(), empty.sizes());
  EXPECT_EQ(cpu::softmax(at::empty({0, 7}), -1, false).sizes(), (std::vector<int64_t>{0, 7}));
}

TEST(Norms, ShapesAndDtypesMatchAten) {
  at::manual_seed(8);
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    const at::Tensor x = at::randn({2, 3, 4, 8}).to(dt);
    for (std::vector<int64_t> ns : {std::vector<int64_t>{8}, std::vector<int64_t>{4, 8}}) {
      for (bool fp32_params : {false, true}) {
        const at::Tensor w = at::randn(ns).to(fp32_params ? at::kFloat : dt);
        const at::Tensor b = at::randn(ns).to(fp32_params ? at::kFloat : dt);
        auto [y, mu, rs] = cpu::layer_norm(x, ns, w, b, 1e-5);
        auto [sy, smu, srs] = at::native_layer_norm(x, ns, w, b, 1e-5);
        EXPECT_EQ(y.sizes(), sy.sizes());
        EXPECT_EQ(y.scalar_type(), sy.scalar_type());
        EXPECT_EQ(mu.sizes(), smu.sizes());
        EXPECT_EQ(mu.scalar_type(), smu.scalar_type()) << dt << fp32_params;
        EXPECT_EQ(rs.sizes(), srs.sizes());
        EXPECT_EQ(rs.scalar_type(), srs.scalar_type());
        auto [ry, rrs] = cpu::rms_norm(x, ns, w, std::nullopt);
        auto [sry, srrs] = at::_fused_rms_norm(x, ns, w, std::nullopt);
        EXPECT_EQ(ry.scalar_type(), sry.scalar_type());
        EXPECT_EQ(rrs.sizes(), srrs.sizes());
        EXPECT_EQ(rrs.scalar_type(), srrs.scalar_type());
        // the default eps is fp32's epsilon, as stock
        EXPECT_TRUE(at::allclose(ry.to(at::kFloat), sry.to(at::kFloat), 1e-2, 1e-2));
      }
    }
  }
  const at::Tensor x = at::randn({2, 8});
  EXPECT_THROW(cpu::layer_norm(x, {7}, std::nullopt, std::nullopt, 1e-5), c10::Error);
  EXPECT_THROW(cpu::rms_norm(x, {8}, at::ones({4}), std::nullopt), c10::Error);
  EXPECT_THROW(cpu::rms_norm(x.to(at::kDouble), {8}, std::nullopt, std::nullopt), c10::Error);
}

TEST(Norms, NanRowsAndEmptyRows) {
  at::Tensor x = at::randn({3, 40});
  x[1][7] = std::nanf("");
  auto [y, mu, rs] = cpu::layer_norm(x, {40}, std::nullopt, std::nullopt, 1e-5);
  EXPECT_TRUE(at::isnan(y[1]).all().item<bool>());
  EXPECT_FALSE(at::isnan(y[0]).any().item<bool>());
  EXPECT_FALSE(at::isnan(y[2]).any().item<bool>());
  auto [ry, rrs] = cpu::rms_norm(x, {40}, std::nullopt, 1e-6);
  EXPECT_TRUE(at::isnan(ry[1]).all().item<bool>());
  EXPECT_FALSE(at::isnan(ry[2]).any().item<bool>());
  // empty rows: mean 0 and rstd NaN, as aten
  auto [ey, emu, ers] = cpu::layer_norm(at::empty({3, 0}), {0}, std::nullopt, std::nullopt, 1e-5);
  EXPECT_EQ(ey.sizes(), (std::vector<int64_t>{3, 0}));
  EXPECT_TRUE(testing::bits_equal(emu, at::zeros({3, 1})));
  EXPECT_TRUE(at::isnan(ers).all().item<bool>());
  auto [ery, errs] = cpu::rms_norm(at::empty({3, 0}), {0}, std::nullopt, std::nullopt);
  EXPECT_TRUE(at::isnan(errs).all().item<bool>());
  auto [zy, zmu, zrs] = cpu::layer_norm(at::empty({0, 8}), {8}, std::nullopt, std::nullopt, 1e-5);
  EXPECT_EQ(zmu.sizes(), (std::vector<int64_t>{0, 1}));
}

}  // namespace
}  // namespace lockstep::kernels::cpu

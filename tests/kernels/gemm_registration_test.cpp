// The GEMM overrides of kernels/register.cpp: with the mode off aten's mm,
// addmm and bmm are bitwise the stock kernels (which drift with the batch
// size: backend_ops_test.cpp's BackendOps.StockFailsTheInvarianceCheck);
// inside a ModeGuard they, and the at::linear / at::matmul that decompose
// into them, are lockstep's kernels.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/addmm_cpu_dispatch.h>
#include <ATen/ops/bmm_cpu_dispatch.h>
#include <ATen/ops/mm_cpu_dispatch.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/mode.h"
#include "tests/kernels/invariance.h"

namespace lockstep::kernels {
namespace {

using testing::bits_equal;

TEST(ModeGuard, SetsAndRestoresTheProcessMode) {
  ASSERT_EQ(mode(), Mode::off);
  {
    ModeGuard on(Mode::batch_invariant);
    EXPECT_EQ(mode(), Mode::batch_invariant);
    {
      ModeGuard off(Mode::off);
      EXPECT_EQ(mode(), Mode::off);
    }
    EXPECT_EQ(mode(), Mode::batch_invariant);
  }
  EXPECT_EQ(mode(), Mode::off);
}

TEST(ModeOps, TorchLibraryOpsSwitchTheMode) {
  auto set = c10::Dispatcher::singleton().findSchemaOrThrow("lockstep::set_mode", "").typed<void(std::string)>();
  auto get = c10::Dispatcher::singleton().findSchemaOrThrow("lockstep::get_mode", "").typed<std::string()>();
  EXPECT_EQ(get.call(), "off");
  set.call("batch_invariant");
  EXPECT_EQ(mode(), Mode::batch_invariant);
  EXPECT_EQ(get.call(), "batch_invariant");
  set.call("off");
  EXPECT_EQ(mode(), Mode::off);
  EXPECT_ANY_THROW(set.call("sometimes"));
  EXPECT_EQ(mode(), Mode::off);
}

struct Operands {
  at::Tensor a, b, b3, a3, bias;
};

Operands operands(at::ScalarType dtype) {
  at::manual_seed(22);
  return {at::randn({33, 576}).to(dtype), at::randn({192, 576}).to(dtype).t(), at::randn({4, 64, 48}).to(dtype),
          at::randn({4, 20, 64}).to(dtype), at::randn({192}).to(dtype)};
}

TEST(GemmOverride, OffIsBitwiseStock) {
  ASSERT_EQ(mode(), Mode::off);
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    const Operands o = operands(dtype);
    EXPECT_TRUE(bits_equal(at::mm(o.a, o.b), at::cpu::mm(o.a, o.b)));
    EXPECT_TRUE(bits_equal(at::addmm(o.bias, o.a, o.b, 0.5, 2.0), at::cpu::addmm(o.bias, o.a, o.b, 0.5, 2.0)));
    EXPECT_TRUE(bits_equal(at::bmm(o.a3, o.b3), at::cpu::bmm(o.a3, o.b3)));
  }
}

TEST(GemmOverride, OnIsLockstep) {
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    const Operands o = operands(dtype);
    ModeGuard guard(Mode::batch_invariant);
    EXPECT_TRUE(bits_equal(at::mm(o.a, o.b), cpu::mm(o.a, o.b)));
    EXPECT_TRUE(bits_equal(at::addmm(o.bias, o.a, o.b, 0.5, 2.0), cpu::addmm(o.bias, o.a, o.b, 0.5, 2.0)));
    EXPECT_TRUE(bits_equal(at::bmm(o.a3, o.b3), cpu::bmm(o.a3, o.b3)));
  }
  // And the override is really in the way: fp32 stock differs somewhere.
  const Operands o = operands(at::kFloat);
  ModeGuard guard(Mode::batch_invariant);
  EXPECT_FALSE(bits_equal(at::mm(o.a, o.b), at::cpu::mm(o.a, o.b)));
}

TEST(GemmOverride, UnsupportedInputsStayStock) {
  at::manual_seed(23);
  ModeGuard guard(Mode::batch_invariant);
  const at::Tensor h = at::randn({5, 8}).to(at::kHalf), hb = at::randn({8, 3}).to(at::kHalf);
  EXPECT_TRUE(bits_equal(at::mm(h, hb), at::cpu::mm(h, hb)));
  const at::Tensor d = at::randn({5, 8}, at::kDouble), db = at::randn({8, 3}, at::kDouble);
  EXPECT_TRUE(bits_equal(at::mm(d, db), at::cpu::mm(d, db)));
  // Shape errors come from the stock kernel, with its message.
  EXPECT_THROW(at::mm(at::randn({2, 3}), at::randn({4, 2})), c10::Error);
}

TEST(GemmOverride, LinearAndMatmulGoThroughLockstep) {
  at::manual_seed(24);
  const at::Tensor x2 = at::randn({7, 576}), x3 = at::randn({2, 5, 576}), w = at::randn({192, 576});
  const at::Tensor bias = at::randn({192});
  ModeGuard guard(Mode::batch_invariant);
  // 2-D: linear = addmm(bias, x, W^T) or mm(x, W^T); matmul = mm.
  EXPECT_TRUE(bits_equal(at::linear(x2, w, bias), cpu::addmm(bias, x2, w.t(), 1, 1)));
  EXPECT_TRUE(bits_equal(at::linear(x2, w), cpu::mm(x2, w.t())));
  EXPECT_TRUE(bits_equal(at::matmul(x2, w.t()), cpu::mm(x2, w.t())));
  // 3-D: folded to [B*T, K] rows.
  const at::Tensor folded = x3.reshape({10, 576});
  EXPECT_TRUE(bits_equal(at::linear(x3, w, bias), cpu::addmm(bias, folded, w.t(), 1, 1).view({2, 5, 192})));
  EXPECT_TRUE(bits_equal(at::linear(x3, w), cpu::mm(folded, w.t()).view({2, 5, 192})));
  EXPECT_TRUE(bits_equal(at::matmul(x3, w.t()), cpu::mm(folded, w.t()).view({2, 5, 192})));
  // 3-D x 3-D and 4-D x 4-D: bmm (attention scores).
  const at::Tensor q = at::randn({2, 3, 9, 64}), k = at::randn({2, 3, 11, 64});
  EXPECT_TRUE(bits_equal(at::matmul(q[0], k[0].transpose(-1, -2)), cpu::bmm(q[0], k[0].transpose(-1, -2))));
  EXPECT_TRUE(bits_equal(at::matmul(q, k.transpose(-1, -2)),
                         cpu::bmm(q.reshape({6, 9, 64}), k.reshape({6, 11, 64}).transpose(1, 2)).view({2, 3, 9, 11})));
  // A row of a linear layer is the same alone and in a 3-D batch.
  EXPECT_TRUE(bits_equal(at::linear(x3, w, bias)[1][2], at::linear(x3[1][2].unsqueeze(0), w, bias)[0]));
}

}  // namespace
}  // namespace lockstep::kernels

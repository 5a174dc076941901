// kernels/fused.h where no fused kernel runs (the CPU, in every mode): each
// function is its composite, bit for bit, so the CPU decoder's bits do not
// move. tests/kernels/cuda_fused_test.cpp holds the CUDA kernels' tests.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/fused.h"
#include "kernels/mode.h"
#include "kernels/paged_attention.h"
#include "tests/kernels/invariance.h"

namespace lockstep::kernels {
namespace {

using testing::bits_equal;

class FusedFallback : public ::testing::TestWithParam<Mode> {};

TEST_P(FusedFallback, EveryFunctionIsItsCompositeOnTheCpu) {
  const ModeGuard mode(GetParam());
  at::manual_seed(31);
  for (at::ScalarType t : {at::kFloat, at::kBFloat16}) {
    const at::Tensor x = (at::randn({3, 80}) * 3).to(t), delta = at::randn({3, 80}).to(t);
    const at::Tensor w = at::randn({80}).to(t);
    EXPECT_TRUE(bits_equal(fused::rms_norm(x, w, 1e-5), fused::composite::rms_norm(x, w, 1e-5)));
    at::Tensor sum = x;
    const at::Tensor h = fused::add_rms_norm(sum, delta, w, 1e-5);
    EXPECT_TRUE(bits_equal(sum, x + delta));
    EXPECT_TRUE(bits_equal(h, fused::composite::rms_norm(x + delta, w, 1e-5)));
    const at::Tensor gu = at::randn({3, 160}).to(t);
    EXPECT_TRUE(bits_equal(fused::silu_gate(gu.narrow(1, 0, 80), gu.narrow(1, 80, 80)),
                           at::silu(gu.narrow(1, 0, 80)) * gu.narrow(1, 80, 80)));

    // Two sequences (3 tokens at 14.., 1 at 0) over a shuffled table of blocks of 8.
    const PagedStep step({{0, 3, 14, {5, 2, 7}}, {3, 1, 0, {4}}}, 8, 0, 2, at::kCPU);
    const at::Tensor qkv = at::randn({4, (4 + 2 + 2) * 16}).to(t);
    const at::Tensor q = qkv.narrow(1, 0, 64).view({4, 4, 16}), k = qkv.narrow(1, 64, 32).view({4, 2, 16});
    const at::Tensor v = qkv.narrow(1, 96, 32).view({4, 2, 16});
    const at::Tensor angle = at::rand({4, 1, 8}) * 10;
    const at::Tensor cos = at::cos(at::cat({angle, angle}, -1)).to(t), sin = at::sin(at::cat({angle, angle}, -1)).to(t);
    const at::Tensor kc = at::randn({8, 2, 8, 16}).to(t), vc = at::randn({8, 2, 8, 16}).to(t);
    const at::Tensor kc_want = kc.clone(), vc_want = vc.clone();
    step.write(kc_want, k * cos + fused::composite::rotate_half(k) * sin);
    step.write(vc_want, v);
    EXPECT_TRUE(bits_equal(fused::rope_write_kv(q, k, v, cos, sin, kc, vc, step),
                           q * cos + fused::composite::rotate_half(q) * sin));
    EXPECT_TRUE(bits_equal(kc, kc_want));
    EXPECT_TRUE(bits_equal(vc, vc_want));
  }
}

TEST(FusedFallback, RotateHalfIsMinusSecondHalfThenFirst) {
  const at::Tensor x = at::arange(6, at::kFloat).view({1, 6});
  EXPECT_TRUE(bits_equal(fused::composite::rotate_half(x), at::tensor({-3.f, -4.f, -5.f, 0.f, 1.f, 2.f}).view({1, 6})));
}

INSTANTIATE_TEST_SUITE_P(Modes, FusedFallback, ::testing::Values(Mode::off, Mode::batch_invariant),
                         [](const ::testing::TestParamInfo<Mode>& info) { return std::string(mode_name(info.param)); });

}  // namespace
}  // namespace lockstep::kernels

// Portable mode on the CPU: its math against float64, and every kernel
// against (1) a plain scalar re-implementation of the defined order, bit for
// bit (this catches a SIMD or threading path that computes something else),
// (2) a float64 reference within a stated tolerance, and (3) itself inside a
// bigger batch (batch invariance). The CUDA side must equal these bits
// (cuda_portable_test.cpp).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "kernels/mode.h"
#include "kernels/portable/math.h"

namespace lockstep::kernels {
namespace {

using namespace portable;

int64_t ulps(float a, double ref) {
  const float r = static_cast<float>(ref);
  if (std::isnan(a) || std::isnan(r)) return std::isnan(a) == std::isnan(r) ? 0 : INT64_MAX;
  if (std::isinf(a) || std::isinf(r)) return a == r ? 0 : INT64_MAX;
  auto key = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i < 0 ? int64_t{INT32_MIN} - i : int64_t{i};
  };
  return std::llabs(key(a) - key(r));
}

TEST(PortableMath, ExpLogTanhAgreeWithFloat64) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> e(-104.0f, 89.0f), t(-10.0f, 10.0f), small(-0.2f, 0.2f);
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  std::uniform_int_distribution<int> expo(-140, 127);
  int64_t worst_exp = 0, worst_log = 0, worst_tanh = 0;
  for (int i = 0; i < 300000; ++i) {
    const float x = e(gen);
    worst_exp = std::max(worst_exp, ulps(p_exp(x), std::exp(static_cast<double>(x))));
    const float y = std::ldexp(mant(gen), expo(gen));
    worst_log = std::max(worst_log, ulps(p_log(y), std::log(static_cast<double>(y))));
    const float z = i % 2 ? t(gen) : small(gen);
    worst_tanh = std::max(worst_tanh, ulps(p_tanh(z), std::tanh(static_cast<double>(z))));
  }
  EXPECT_LE(worst_exp, 1);
  EXPECT_LE(worst_log, 3);
  EXPECT_LE(worst_tanh, 16);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(p_exp(0.0f), 1.0f);
  EXPECT_EQ(p_exp(-inf), 0.0f);
  EXPECT_EQ(p_exp(inf), inf);
  EXPECT_EQ(p_exp(89.0f), inf);
  EXPECT_TRUE(std::isnan(p_exp(nan)));
  EXPECT_GT(p_exp(-100.0f), 0.0f);   // denormal results are kept
  EXPECT_EQ(p_log(1.0f), 0.0f);
  EXPECT_EQ(p_log(0.0f), -inf);
  EXPECT_TRUE(std::isnan(p_log(-1.0f)));
  EXPECT_EQ(p_log(inf), inf);
  EXPECT_LE(ulps(p_log(1e-40f), std::log(1e-40)), 3);
  EXPECT_EQ(p_tanh(0.0f), 0.0f);
  EXPECT_EQ(p_tanh(20.0f), 1.0f);
  EXPECT_EQ(p_tanh(-20.0f), -1.0f);
  EXPECT_EQ(p_silu(0.0f), 0.0f);
  EXPECT_EQ(p_rsqrt(4.0f), 0.5f);
}

TEST(PortableMath, HostDoubleFunctionsForRopeTables) {
  double worst = 0.0;
  for (int i = 0; i < 200000; ++i) {
    const double x = i * 0.6180339887 - 1000.0;
    double s, c;
    d_sincos(x, &s, &c);
    worst = std::max({worst, std::fabs(s - std::sin(x)), std::fabs(c - std::cos(x))});
  }
  EXPECT_LT(worst, 1e-15);
  for (int i = 1; i < 64; ++i) {
    const double e = 2.0 * i / 64.0;
    EXPECT_NEAR(d_pow(10000.0, e) / std::pow(10000.0, e), 1.0, 1e-14) << e;
    EXPECT_NEAR(d_pow(500000.0, e) / std::pow(500000.0, e), 1.0, 1e-14) << e;
  }
}

// ---- scalar re-implementations of the defined orders ---------------------------------------

float ref_dot(const float* a, int64_t sa, const float* b, int64_t sb, int64_t k) {
  float acc = 0.0f;
  for (int64_t i = 0; i < k; ++i) acc = std::fma(a[i * sa], b[i * sb], acc);
  return acc;
}

template <class F>
float ref_tree(int64_t n, float init, F element, bool max) {
  float lanes[32];
  for (float& l : lanes) l = init;
  for (int64_t i = 0; i < n; ++i) {
    const float v = element(i);
    lanes[i % 32] = max ? (v > lanes[i % 32] ? v : lanes[i % 32]) : lanes[i % 32] + v;
  }
  for (int off = 16; off > 0; off >>= 1) {
    for (int j = 0; j < off; ++j) lanes[j] = max ? (lanes[j + off] > lanes[j] ? lanes[j + off] : lanes[j]) : lanes[j] + lanes[j + off];
  }
  return lanes[0];
}

bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.contiguous(), y = b.contiguous();
  return x.sizes() == y.sizes() && std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * sizeof(float)) == 0;
}

// A float64 reference, computed with the stock kernels (portable mode refuses fp64).
template <class F>
at::Tensor stock(F f) {
  const ModeGuard off(Mode::off);
  return f();
}

class Portable : public ::testing::Test {
 protected:
  ModeGuard mode_{Mode::portable};
};

TEST_F(Portable, GemmIsTheSequentialFmaOrderAndBatchInvariant) {
  at::manual_seed(1);
  for (auto [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{1, 576, 1536}, {5, 33, 17}, {67, 64, 190}, {3, 1, 5}}) {
    const at::Tensor a = at::randn({M, K});
    const at::Tensor w = at::randn({N, K});            // nn.Linear's weight: B = W^T
    const at::Tensor b2 = at::randn({K, N});           // and a row-major B
    for (const at::Tensor& b : {w.t(), b2}) {
      const at::Tensor c = at::mm(a, b);
      at::Tensor ref = at::empty({M, N});
      const at::Tensor bc = b.contiguous();
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n)
          ref[m][n] = ref_dot(a.data_ptr<float>() + m * K, 1, bc.data_ptr<float>() + n, N, K);
      EXPECT_TRUE(same_bits(c, ref)) << M << "x" << K << "x" << N;
      // Against float64: |c - ref64| <= K * 2^-23 * sum |a||b| (a standard bound for a dot product).
      const at::Tensor r64 = stock([&] { return at::mm(a.to(at::kDouble), b.to(at::kDouble)); });
      const at::Tensor bound =
          stock([&] { return at::mm(a.abs().to(at::kDouble), b.abs().to(at::kDouble)) * (K * std::ldexp(1.0, -23)); });
      EXPECT_TRUE(((c.to(at::kDouble) - r64).abs() <= bound + 1e-30).all().item<bool>());
      // Row 0 alone has the bits it has inside the M-row product.
      EXPECT_TRUE(same_bits(at::mm(a.narrow(0, 0, 1), b), c.narrow(0, 0, 1)));
    }
  }
  const at::Tensor a = at::randn({4, 8}), b = at::randn({8, 3}), bias = at::randn({3});
  const at::Tensor out = at::addmm(bias, a, b, 0.5, 2.0);
  const at::Tensor expect = at::mm(a, b) * 2.0f + bias * 0.5f;
  EXPECT_TRUE(same_bits(out, expect));
}

TEST_F(Portable, RowReductionsFollowTheLaneTree) {
  at::manual_seed(2);
  for (int64_t n : {1, 7, 32, 33, 576, 1000}) {
    const at::Tensor x = at::randn({3, n}) * 10;
    const at::Tensor s = x.sum(-1), mean = x.mean(-1, true), sm = at::softmax(x, -1), ls = at::log_softmax(x, -1);
    for (int64_t r = 0; r < 3; ++r) {
      const float* row = x.data_ptr<float>() + r * n;
      const float sum_ref = ref_tree(n, 0.0f, [&](int64_t i) { return row[i]; }, false);
      EXPECT_EQ(s[r].item<float>(), sum_ref);
      EXPECT_EQ(mean[r][0].item<float>(), sum_ref / static_cast<float>(n));
      const float m = ref_tree(n, -INFINITY, [&](int64_t i) { return row[i]; }, true);
      const float z = ref_tree(n, 0.0f, [&](int64_t i) { return p_exp(row[i] - m); }, false);
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_EQ(sm[r][i].item<float>(), p_exp(row[i] - m) / z);
        EXPECT_EQ(ls[r][i].item<float>(), (row[i] - m) - p_log(z));
      }
    }
    EXPECT_TRUE(at::allclose(sm.to(at::kDouble), stock([&] { return at::softmax(x.to(at::kDouble), -1); }), 1e-5, 1e-7));
    // One row alone = that row in the batch.
    EXPECT_TRUE(same_bits(x.narrow(0, 1, 1).sum(-1), s.narrow(0, 1, 1)));
  }
  EXPECT_THROW(at::randn({3, 4}).sum(0), c10::Error);   // not the last dimension: refused, not stock
}

TEST_F(Portable, ElementwiseAndNormsUseTheOwnMath) {
  const at::Tensor x = at::linspace(-30, 30, 1001);
  const at::Tensor silu = at::silu(x), sig = at::sigmoid(x), rs = at::rsqrt(x.abs() + 0.5);
  for (int64_t i = 0; i < x.numel(); i += 37) {
    const float v = x[i].item<float>();
    EXPECT_EQ(silu[i].item<float>(), p_silu(v));
    EXPECT_EQ(sig[i].item<float>(), p_sigmoid(v));
  }
  EXPECT_TRUE(at::allclose(silu.to(at::kDouble), stock([&] { return at::silu(x.to(at::kDouble)); }), 1e-6, 1e-7));
  EXPECT_TRUE(at::allclose(rs.to(at::kDouble), stock([&] { return at::rsqrt(x.abs().to(at::kDouble) + 0.5); }), 1e-7, 0));
  const at::Tensor h = at::randn({4, 576}), w = at::randn({576});
  const at::Tensor y = at::rms_norm(h, {576}, w, 1e-5);
  const float* row = h.data_ptr<float>();
  const float ss = ref_tree(576, 0.0f, [&](int64_t i) { return row[i] * row[i]; }, false);
  const float inv = 1.0f / std::sqrt(ss / 576.0f + 1e-5f);
  EXPECT_EQ(y[0][5].item<float>(), (row[5] * inv) * w[5].item<float>());
}

TEST_F(Portable, AttentionIsTheDefinedOrderAndIndependentOfTheOtherQueries) {
  at::manual_seed(3);
  const int64_t H = 4, Hkv = 2, T = 9, D = 16;
  const at::Tensor q = at::randn({1, H, T, D}), k = at::randn({1, Hkv, T, D}), v = at::randn({1, Hkv, T, D});
  const at::Tensor out = at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, {}, true);
  const float scale = static_cast<float>(1.0 / std::sqrt(16.0));
  for (int64_t h : {0, 3}) {
    for (int64_t i : {0, 4, 8}) {
      const at::Tensor qi = q[0][h][i].contiguous(), kh = k[0][h / 2].contiguous(), vh = v[0][h / 2].contiguous();
      std::vector<float> p(static_cast<size_t>(i + 1));
      float m = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) {
        p[j] = ref_dot(qi.data_ptr<float>(), 1, kh.data_ptr<float>() + j * D, 1, D) * scale;
        m = std::max(m, p[j]);
      }
      float l = 0.0f;
      for (float& pj : p) {
        pj = p_exp(pj - m);
        l = l + pj;
      }
      for (int64_t d = 0; d < D; d += 5) {
        float acc = 0.0f;
        for (int64_t j = 0; j <= i; ++j) acc = std::fma(p[j], vh[j][d].item<float>(), acc);
        EXPECT_EQ(out[0][h][i][d].item<float>(), acc / l) << h << " " << i << " " << d;
      }
    }
  }
  const at::Tensor ref = stock([&] {
    return at::scaled_dot_product_attention(q.to(at::kDouble), k.repeat_interleave(2, 1).to(at::kDouble),
                                            v.repeat_interleave(2, 1).to(at::kDouble), {}, 0.0, true);
  });
  EXPECT_TRUE(at::allclose(out.to(at::kDouble), ref, 1e-5, 1e-6));
  // The last query alone against the same keys (a decode step) = the last row of the prefill.
  const at::Tensor last = at::scaled_dot_product_attention(q.narrow(2, T - 1, 1), k, v, {}, 0.0, false, {}, true);
  EXPECT_TRUE(same_bits(last, out.narrow(2, T - 1, 1)));
  // A boolean mask equal to the causal one gives the causal bits.
  const at::Tensor mask = at::ones({T, T}, at::kBool).tril();
  EXPECT_TRUE(same_bits(at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, {}, true), out));
}

TEST_F(Portable, BfloatIsRefusedNotComputedWithStockKernels) {
  const at::Tensor a = at::randn({2, 3}).to(at::kBFloat16);
  EXPECT_THROW(at::mm(a, a.t()), c10::Error);
}

}  // namespace
}  // namespace lockstep::kernels

// kernels/token_choice.h: the CPU chooser against its definition spelled
// out, and against the host sampler as it was before the definition (one
// sequential sum over every candidate, glibc's exp); the CUDA chooser against
// the CPU one on 10^6 random rows (skipped without a GPU). Rows: many ties,
// signed zeros, -inf entries, peaked and flat logits, temperatures from 0.01
// to 20, top_k and top_p on and off, uniforms near 0 and 1.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/token_choice.h"
#ifdef LOCKSTEP_WITH_CUDA
#include "tests/kernels/cuda_test_support.h"
#endif

namespace lockstep::kernels {
namespace {

std::vector<int32_t> stable_order(const std::vector<float>& x) {
  std::vector<int32_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return x[a] > x[b]; });
  return order;
}

// The definition, spelled out.
int64_t reference(const std::vector<float>& x, const ChoiceParams& p) {
  if (std::any_of(x.begin(), x.end(), [](float v) { return std::isnan(v); })) return -1;
  const std::vector<int32_t> order = stable_order(x);
  const double top = x[order[0]];
  if (p.temperature == 0.0) return order[0];
  if (!std::isfinite(top)) return -1;
  const auto n = static_cast<int64_t>(x.size());
  const int64_t keep = p.top_k > 0 ? std::min<int64_t>(n, static_cast<int64_t>(p.top_k)) : n;
  std::vector<double> w;
  for (int64_t i = 0; i < keep; ++i) {
    const double z = (double(x[order[i]]) - top) / p.temperature;
    if (z < -50.0) break;
    w.push_back(portable::d_exp(z));
  }
  auto running = [](const std::vector<double>& v) {   // blocks of 256, their totals summed into offsets
    std::vector<double> sums(v.size());
    double offset = 0.0;
    for (size_t b = 0; b < v.size(); b += 256) {
      double s = 0.0;
      for (size_t i = b; i < std::min(v.size(), b + 256); ++i) {
        s += v[i];
        sums[i] = offset + s;
      }
      offset += s;
    }
    return sums;
  };
  const std::vector<double> sums = running(w);
  size_t count = w.size();
  if (p.top_p < 1.0) {
    std::vector<double> mass;
    for (double v : w) mass.push_back(v / sums.back());
    const std::vector<double> cumulative = running(mass);
    for (size_t i = 0; i < cumulative.size(); ++i) {
      if (cumulative[i] >= p.top_p) {
        count = i + 1;
        break;
      }
    }
  }
  const double target = p.uniform * sums[count - 1];
  for (size_t i = 0; i < count; ++i) {
    if (target < sums[i]) return order[i];
  }
  return order[count - 1];
}

// The host sampler before token_choice.h: every kept candidate, glibc's exp, one sequential sum.
int64_t before(const std::vector<float>& x, const ChoiceParams& p) {
  const std::vector<int32_t> order = stable_order(x);
  const auto n = static_cast<int64_t>(x.size());
  int64_t keep = p.top_k > 0 ? std::min<int64_t>(n, static_cast<int64_t>(p.top_k)) : n;
  std::vector<double> w(static_cast<size_t>(keep));
  double total = 0.0;
  for (int64_t i = 0; i < keep; ++i) total += w[i] = std::exp((double(x[order[i]]) - double(x[order[0]])) / p.temperature);
  if (p.top_p < 1.0) {
    double cumulative = 0.0;
    for (int64_t i = 0; i < keep; ++i) {
      cumulative += w[i] / total;
      if (cumulative >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
    total = std::accumulate(w.begin(), w.begin() + keep, 0.0);
  }
  const double target = p.uniform * total;
  double cumulative = 0.0;
  for (int64_t i = 0; i < keep; ++i) {
    cumulative += w[i];
    if (target < cumulative) return order[i];
  }
  return order[keep - 1];
}

struct Rows {
  at::Tensor logits, params;   // [rows, n] fp32, [rows, 4] float64, CPU
};

// `count` random rows of n logits, each with its own distribution and parameters.
Rows random_rows(std::mt19937_64& rng, int64_t count, int64_t n) {
  Rows r{at::empty({count, n}, at::kFloat), at::empty({count, kChoiceParams}, at::kDouble)};
  float* x = r.logits.data_ptr<float>();
  double* q = r.params.data_ptr<double>();
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t row = 0; row < count; ++row) {
    const int shape = static_cast<int>(rng() % 5);
    const float scale = std::pow(10.0f, static_cast<float>(unit(rng) * 3.0 - 1.0));   // 0.1 to 100
    for (int64_t i = 0; i < n; ++i) {
      float v = normal(rng) * scale;
      if (shape == 1) v = std::round(v);                                  // ties
      if (shape == 2) v = static_cast<float>(rng() % 3) - 1.0f;          // few values, signed zeros below
      if (shape == 3 && rng() % 4 == 0) v = -INFINITY;                   // masked tokens
      if (shape == 4 && i == static_cast<int64_t>(rng() % n)) v += 30.0f;   // peaked
      if (v == 0.0f && rng() % 2 == 0) v = -0.0f;
      x[row * n + i] = v;
    }
    const int t = static_cast<int>(rng() % 8);
    q[row * 4 + 0] = t == 0 ? 0.0 : std::pow(10.0, unit(rng) * 3.3 - 2.0);   // greedy, or 0.01 to 20
    q[row * 4 + 1] = rng() % 3 == 0 ? static_cast<double>(1 + rng() % (n + 2)) : 0.0;
    q[row * 4 + 2] = rng() % 3 == 0 ? std::max(1e-3, unit(rng)) : 1.0;
    const int u = static_cast<int>(rng() % 10);
    q[row * 4 + 3] = u == 0 ? 0.0 : u == 1 ? 1.0 - 0x1p-53 : unit(rng);
  }
  return r;
}

int64_t random_width(std::mt19937_64& rng) {
  const int64_t widths[] = {1, 2, 3, 7, 50, 257, 1000, 4096};
  return rng() % 4 == 0 ? 1 + static_cast<int64_t>(rng() % 3000) : widths[rng() % 8];
}

// Every row as the definition says; and the token the host sampler chose
// before, but where the draw is within 2^-40 of a candidate's edge (running
// sums in another order round differently) or at u = 1 - 2^-53 (the last
// candidate kept differs when the draw passes the total).
TEST(TokenChoice, CpuIsTheDefinitionAndTheSamplerBefore) {
  std::mt19937_64 rng(17);
  int64_t sampled = 0, compared = 0;
  for (int batch = 0; batch < 120; ++batch) {
    const int64_t n = random_width(rng);
    const Rows r = random_rows(rng, 64, n);
    const at::Tensor got = choose_tokens(r.logits, r.params);
    for (int64_t row = 0; row < 64; ++row) {
      const float* x = r.logits.data_ptr<float>() + row * n;
      const double* q = r.params.data_ptr<double>() + row * 4;
      const std::vector<float> logits(x, x + n);
      const ChoiceParams p{q[0], q[1], q[2], q[3]};
      const int64_t want = reference(logits, p);
      ASSERT_EQ(got[row].item<int64_t>(), want) << "batch " << batch << " row " << row << " n " << n << " T " << q[0]
                                                << " top_k " << q[1] << " top_p " << q[2] << " u " << q[3];
      if (p.temperature == 0.0 || want < 0) continue;
      ++sampled;
      if (p.uniform > 1.0 - 0x1p-40) continue;
      ChoiceParams below = p, above = p;
      below.uniform = std::max(0.0, p.uniform - 0x1p-40);
      above.uniform = p.uniform + 0x1p-40;
      if (reference(logits, below) != want || reference(logits, above) != want) continue;
      ++compared;
      EXPECT_EQ(before(logits, p), want) << "batch " << batch << " row " << row;
    }
  }
  std::cout << "[ rows     ] " << sampled << " sampled, " << compared << " of them also by the sampler before\n";
  EXPECT_GT(sampled, 5000);
  EXPECT_GT(compared, sampled * 9 / 10);
}

std::vector<int64_t> ids(const at::Tensor& t) {
  const at::Tensor c = t.cpu().contiguous();
  return {c.const_data_ptr<int64_t>(), c.const_data_ptr<int64_t>() + c.numel()};
}

TEST(TokenChoice, GreedyRowsAreTheArgmaxAndUndefinedRowsAreMinusOne) {
  const at::Tensor logits = at::tensor({0.f, 5.f, 1.f, 5.f, NAN, 1.f, 2.f, 3.f, 1.f, INFINITY, 2.f, INFINITY,
                                        -INFINITY, -INFINITY, -INFINITY, -INFINITY})
                                .view({4, 4});
  at::Tensor params = at::zeros({4, kChoiceParams}, at::kDouble);
  params.select(1, 2).fill_(1.0);
  EXPECT_EQ(ids(choose_tokens(logits, params)), (std::vector<int64_t>{1, -1, 1, 0}));
  params.select(1, 0).fill_(1.0);   // sampling: NaN, an infinite maximum and an all -inf row have no distribution
  const std::vector<int64_t> sampled = ids(choose_tokens(logits, params));
  EXPECT_TRUE(sampled[0] >= 0 && sampled[0] < 4);
  EXPECT_EQ(std::vector<int64_t>(sampled.begin() + 1, sampled.end()), (std::vector<int64_t>{-1, -1, -1}));
}

TEST(TokenChoice, RejectsBadShapes) {
  EXPECT_THROW(choose_tokens(at::zeros({2, 5}), at::zeros({2, 3}, at::kDouble)), c10::Error);
  EXPECT_THROW(choose_tokens(at::zeros({2, 5}), at::zeros({3, 4}, at::kDouble)), c10::Error);
  EXPECT_THROW(choose_tokens(at::zeros({2, 5}, at::kDouble), at::zeros({2, 4}, at::kDouble)), c10::Error);
  EXPECT_THROW(choose_tokens(at::zeros({2, 0}), at::zeros({2, 4}, at::kDouble)), c10::Error);
}

#ifdef LOCKSTEP_WITH_CUDA
// 10^6 rows: 1000 calls of 1000 rows, each call its own width (up to a 49,152
// vocabulary) and every row its own distribution and parameters.
TEST(TokenChoiceCuda, EveryRowIsTheHostsChoice) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(2026);
  int64_t rows = 0, sampled = 0;
  for (int call = 0; call < 1000; ++call) {
    const int64_t n = call % 100 == 0 ? 49152 : random_width(rng);
    const Rows r = random_rows(rng, 1000, n);
    const std::vector<int64_t> want = ids(choose_tokens(r.logits, r.params));
    const std::vector<int64_t> got = ids(choose_tokens(r.logits.cuda(), r.params));
    for (size_t row = 0; row < want.size(); ++row) {
      const double* q = r.params.data_ptr<double>() + row * 4;
      ASSERT_EQ(got[row], want[row]) << "call " << call << " row " << row << " n " << n << " T " << q[0] << " top_k "
                                     << q[1] << " top_p " << q[2] << " u " << q[3];
      sampled += q[0] > 0 && want[row] >= 0;
    }
    rows += static_cast<int64_t>(want.size());
  }
  EXPECT_EQ(rows, 1000000);
  EXPECT_GT(sampled, 700000);
  std::cout << "[ cases    ] " << rows << " rows, " << sampled << " sampled\n";
}
#endif

}  // namespace
}  // namespace lockstep::kernels

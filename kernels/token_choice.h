// The token of each row of logits — greedy or seeded sampling — by one
// definition of the arithmetic, compiled for the CPU and for CUDA, so that
// the engine can choose a whole step's tokens on the device (and feed them
// to the next step without a trip to the host) and get exactly the token the
// host would: a request's bits do not depend on where its token was chosen.
//
// A row (fp32 logits x, parameters temperature T, top_k, top_p, uniform u):
//   1. candidates ordered by logit, descending, ties by smaller id (+0 and -0
//      tie): a stable sort by a 32-bit key (`key` below); on CUDA cub's
//      stable segmented radix sort, on the CPU an LSD radix sort;
//   2. T == 0: the first candidate (the argmax, smallest id on a tie);
//   3. else keep = min(n, top_k) (top_k 0: n); weights w_i = d_exp((x_i - x_0) / T)
//      in double (kernels/portable/math.h: the same bits on both sides);
//      `pick`: total = w_0 + w_1 + ... in that order; with top_p < 1 the
//      nucleus is cut where the running sum of w_i / total first reaches
//      top_p and the total summed again; then the first i whose running sum
//      exceeds u * total, else the last kept candidate.
// Every sum runs sequentially in candidate order (one thread on CUDA): the
// result is the host's to the bit. A candidate with (x_i - x_0) / T < -50
// has w_i < 2^-72 while every running sum is >= 1 (w_0 = 1), or >= 1/total
// for the normalised one, so adding it, or any later one, changes no sum:
// the loops stop at the first such candidate (`live`) with the same results.
// A sampled row holding NaN, or whose largest logit is +inf or -inf, has no
// defined distribution: its token is -1, for the caller to raise; a greedy
// row is -1 only for a NaN (as argmax).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "kernels/portable/math.h"

namespace lockstep::kernels {

// One row's parameters, as the columns of the float64 [rows, 4] tensor the
// choosers take (top_k as a whole number; u in [0, 1)).
struct ChoiceParams {
  double temperature = 0.0, top_k = 0.0, top_p = 1.0, uniform = 0.0;
};
inline constexpr int64_t kChoiceParams = 4;

// `logits`: fp32 [rows, n]; `params`: float64 [rows, 4] on any device.
// Returns int64 [rows] on the logits' device (-1: see above). Does not wait
// for the device.
at::Tensor choose_tokens(const at::Tensor& logits, const at::Tensor& params);
at::Tensor choose_tokens_cpu(const at::Tensor& logits, const at::Tensor& params);
#ifdef LOCKSTEP_WITH_CUDA
at::Tensor choose_tokens_cuda(const at::Tensor& logits, const at::Tensor& params);
#endif

// Token ids ordered by logit, descending, ties by smaller id (+0 and -0
// tie): std::stable_sort's order with `a > b` (tested), by an LSD radix sort
// over `key`, a tenth of its time at a 49k vocabulary; rows holding NaN take
// stable_sort.
std::vector<int32_t> candidate_order(const float* logits, int64_t n);

namespace choice {

// Ascending keys give descending logits; -0 and +0 share a key.
LS_HD uint32_t key(float x) {
  const uint32_t bits = portable::float_to_bits(x == 0.0f ? 0.0f : x);
  const uint32_t ascending = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
  return ~ascending;
}

LS_HD double scaled(float x, float top, double temperature) {
  return (static_cast<double>(x) - static_cast<double>(top)) / temperature;
}
LS_HD bool negligible(float x, float top, double temperature) { return scaled(x, top, temperature) < -50.0; }
LS_HD double weight(float x, float top, double temperature) { return portable::d_exp(scaled(x, top, temperature)); }

// The position in candidate order that seeded sampling picks, from the
// weights w[0, live) of the candidates before the first negligible one
// (live <= keep).
LS_HD int64_t pick(const double* w, int64_t keep, int64_t live, double top_p, double uniform) {
  double total = 0.0;
  for (int64_t i = 0; i < live; ++i) total += w[i];
  if (top_p < 1.0) {
    double cumulative = 0.0;
    for (int64_t i = 0; i < live; ++i) {
      cumulative += w[i] / total;
      if (cumulative >= top_p) {
        keep = i + 1;
        live = keep;
        break;
      }
    }
    total = 0.0;
    for (int64_t i = 0; i < live; ++i) total += w[i];
  }
  const double target = uniform * total;
  double cumulative = 0.0;
  for (int64_t i = 0; i < live; ++i) {
    cumulative += w[i];
    if (target < cumulative) return i;
  }
  return keep - 1;
}

// How many candidates a row keeps: min(n, top_k), all with top_k 0.
LS_HD int64_t kept(int64_t n, double top_k) {
  return top_k > 0.0 && top_k < static_cast<double>(n) ? static_cast<int64_t>(top_k) : n;
}

}  // namespace choice
}  // namespace lockstep::kernels

// The token of each row of logits — greedy or seeded sampling — by one
// definition of the arithmetic, compiled for the CPU and for CUDA, so that
// the engine can choose a whole step's tokens on the device (and feed them
// to the next step without a trip to the host) and get exactly the token the
// host would: a request's bits do not depend on where its token was chosen.
//
// A row (fp32 logits x, parameters temperature T, top_k, top_p, uniform u):
//   1. candidates ordered by logit, descending, ties by smaller id (+0 and -0
//      tie): a sort by a 32-bit key (`key` below) with the id as the next
//      key digits; on CUDA one cub radix sort of the whole step, on the CPU
//      an LSD radix sort;
//   2. T == 0: the first candidate (the argmax, smallest id on a tie);
//   3. else the candidates are the first min(n, top_k) (top_k 0: n) whose
//      (x_i - x_0) / T >= -50 (a weight below e^-50 of the top's is never
//      drawn in practice: 49,152 of them weigh < 2^-56 of the total), with
//      weights w_i = d_exp((x_i - x_0) / T) in double (kernels/portable/math.h:
//      the same bits on both sides, unlike glibc's exp and CUDA's);
//   4. `running`: the running sums P_i of the weights in candidate order, in
//      blocks of kBlock: sequential sums inside each block, the blocks' totals
//      summed sequentially into offsets, P_i = offset + block sum; a fixed
//      order, so the host's and the device's sums are the same bits, and on
//      CUDA the blocks run in parallel (a sum of 49,152 weights in one
//      sequential chain took 11 ms a step);
//   5. with top_p < 1 the candidates are cut after the first whose running
//      sum of w_i / total (again `running`) reaches top_p;
//   6. the first candidate i with u * P_last < P_i, else the last one.
// P and the normalised sums never decrease along the order, so "the first i"
// is the same found by one thread or by many.
// A sampled row holding NaN, or whose largest logit is +inf or -inf, has no
// defined distribution: its token is -1, for the caller to raise; a greedy
// row is -1 only for a NaN (as argmax).
#pragma once

#include <ATen/core/Tensor.h>

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

// The running sums of v[0, n) as step 4 defines them, into out (the CPU's;
// CUDA runs the same three steps of choice:: across a block of threads).
void running_sums(const double* v, int64_t n, double* out);

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
// Sorted candidates from the first negligible one on are no candidates.
LS_HD bool negligible(float x, float top, double temperature) { return scaled(x, top, temperature) < -50.0; }
LS_HD double weight(float x, float top, double temperature) { return portable::d_exp(scaled(x, top, temperature)); }

// How many candidates top_k lets through: min(n, top_k), all with top_k 0
// (or anything below 1: the engine passes whole numbers).
LS_HD int64_t kept(int64_t n, double top_k) {
  return top_k >= 1.0 && top_k < static_cast<double>(n) ? static_cast<int64_t>(top_k) : n;
}

inline constexpr int64_t kBlock = 256;

// Step one of `running` for the block [begin, end): sequential sums from 0
// into out; returns the block's total.
LS_HD double block_sums(const double* v, int64_t begin, int64_t end, double* out) {
  double s = 0.0;
  for (int64_t i = begin; i < end; ++i) {
    s += v[i];
    out[i] = s;
  }
  return s;
}

// Step two: the blocks' offsets, sequential sums of the totals before each.
LS_HD void block_offsets(const double* totals, int64_t blocks, double* offsets) {
  double s = 0.0;
  for (int64_t b = 0; b < blocks; ++b) {
    offsets[b] = s;
    s += totals[b];
  }
}

// Step three, per element: P_i = offset of its block + its block sum.
LS_HD double running_sum(const double* offsets, const double* block_sum, int64_t i) {
  return offsets[i / kBlock] + block_sum[i];
}

// Step six: the position drawn, given the running sums p of the `count`
// candidates left (CUDA searches the same monotone p in parallel).
LS_HD int64_t draw(const double* p, int64_t count, double uniform) {
  const double target = uniform * p[count - 1];
  for (int64_t i = 0; i < count; ++i) {
    if (target < p[i]) return i;
  }
  return count - 1;
}

}  // namespace choice
}  // namespace lockstep::kernels

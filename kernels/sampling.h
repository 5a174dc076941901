// aten::multinomial in batch_invariant mode: each row's samples are a function of the row's own
// probabilities and of one draw from the generator per call, never of the rows beside it.
//
// Stock multinomial draws V uniforms per row from the generator in row order, so a row's sample
// depends on how many rows came before it: the same prompt sampled alone and inside a batch gets
// different tokens from the same seed. Here, per call:
//   1. key: two 31-bit integers drawn from the generator (at::randint on the input's device): a
//      fixed amount per call, whatever the batch, so a seeded sequence of calls replays exactly;
//   2. row: h = mix(mix(rowhash ^ key0) + key1), rowhash = sum_j bits32(p_j) * odd(j) mod 2^32
//      over the row's fp32 probability bits (an integer sum: exact in any order);
//   3. sample s, category j: u = (mix(mix(h + salt(s)) ^ c(j)) >> 8, +0.5) / 2^24 in (0, 1),
//      E = -log(u) in double, key_j = p_j / E (the exponential race: argmax_j p_j / E_j is
//      category j with probability p_j); with replacement sample s is the argmax of its own
//      keys (smallest j on a tie), without replacement samples are the categories of the n
//      largest keys of salt 0, largest first (ties: smaller j first).
// mix is a 32-bit integer finalizer. On the CPU one scalar loop computes every element (the stock
// vectorized log rounds its tail differently); on CUDA the same arithmetic runs as ATen ops
// (one formula per element). Identical rows in one call get identical samples: two equal
// requests in a batch sample alike, as each would alone. Not the stock random stream, so the
// mode changes which token a seed picks; not portable across devices (log differs).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace lockstep::kernels {

at::Tensor invariant_multinomial(const at::Tensor& probs, int64_t num_samples, bool replacement,
                                 std::optional<at::Generator> generator);

}  // namespace lockstep::kernels

// TEST-ONLY (LOCKSTEP_FAULT_INJECTION): the fault injector's hooks that
// work on tensors (kernels/fault/fault.h says what each fault does).
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <vector>

#include "kernels/fault/fault.h"

namespace lockstep::kernels::fault {

// Decoding: maybe flip one logit of this step's row (fp32, contiguous, CPU).
void maybe_flip_logit(int64_t step, int64_t max_new_tokens, const std::vector<int32_t>& prompt_ids, at::Tensor& row);

// Split-K: gemm(a_part, b_part, nullptr, 1, 0) per part of K, partial sums
// added in order in fp32, then alpha and beta * bias applied.
using Gemm = at::Tensor (*)(const at::Tensor&, const at::Tensor&, const at::Tensor*, float, float);
at::Tensor split_k(const at::Tensor& a, const at::Tensor& b, const at::Tensor* bias, float alpha, float beta,
                   int64_t splits, Gemm gemm);

// The attention-split fault's path: q [B, Hq, Tq, D], k / v [B, Hkv, Tk, D]
// (Hq a multiple of Hkv), mask bool (true = attend) or additive,
// broadcastable to [B, Hq, Tq, Tk]; keys in splits of `split`, each split's
// softmax and value sum in fp32 aten ops, splits combined by running max
// and sum.
at::Tensor split_sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                      const std::optional<at::Tensor>& mask, bool is_causal, std::optional<double> scale,
                      int64_t split);

// x with every dim that `reduced` marks flipped: each row's elements in
// reverse order.
at::Tensor reverse_dims(const at::Tensor& x, const std::vector<bool>& reduced);

}  // namespace lockstep::kernels::fault

// What every CUDA kernel test needs: a clean skip where no GPU is present,
// CUDA tensor options, a tolerance per dtype, and (for the tests in
// lockstep::kernels::cuda) the invariance helpers and `ours` by name. Only
// for files built with LOCKSTEP_WITH_CUDA.
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cuda/ops.h"
#include "tests/kernels/invariance.h"

#define SKIP_WITHOUT_GPU() \
  if (!at::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

namespace lockstep::kernels::testing {

inline at::TensorOptions cuda_opts(at::ScalarType t) { return at::TensorOptions().device(at::kCUDA).dtype(t); }

// A test's accuracy bound against float64 for fp32, fp16 and bf16 results.
inline double tolerance_of(at::ScalarType t, double fp32, double fp16, double bf16) {
  return t == at::kFloat ? fp32 : t == at::kHalf ? fp16 : bf16;
}

// First element whose 4-byte words differ between a CPU result and a GPU
// one (0 when the shapes differ), or -1: portable mode's bits-equal check.
inline int64_t first_difference(const at::Tensor& cpu, const at::Tensor& gpu) {
  const at::Tensor a = cpu.contiguous(), b = gpu.cpu().contiguous();
  if (a.sizes() != b.sizes()) return 0;
  const auto* x = static_cast<const uint32_t*>(a.data_ptr());
  const auto* y = static_cast<const uint32_t*>(b.data_ptr());
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (x[i] != y[i]) return i;
  }
  return -1;
}

// Random SDPA operands on the GPU: q [B, Hq, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv]; mask
// 0 none, 1 bool [B, 1, Tq, Tk] (70% attend), 2 additive [B, Hq, Tq, Tk] in `dtype` (20% -inf).
struct AttentionInputs {
  at::Tensor q, k, v, mask;
};
inline AttentionInputs attention_inputs(at::ScalarType dtype, int64_t B, int64_t Hq, int64_t Hkv, int64_t Tq,
                                        int64_t Tk, int64_t D, int64_t Dv, int mask, uint64_t seed) {
  at::manual_seed(seed);
  AttentionInputs in;
  in.q = at::randn({B, Hq, Tq, D}, cuda_opts(dtype));
  in.k = at::randn({B, Hkv, Tk, D}, cuda_opts(dtype));
  in.v = at::randn({B, Hkv, Tk, Dv}, cuda_opts(dtype));
  if (mask == 1) {
    in.mask = at::rand({B, 1, Tq, Tk}, cuda_opts(at::kFloat)) > 0.3;
  } else if (mask == 2) {
    const at::Tensor add = at::randn({B, Hq, Tq, Tk}, cuda_opts(at::kFloat));
    in.mask = add.masked_fill(at::rand_like(add) < 0.2, -std::numeric_limits<float>::infinity()).to(dtype);
  }
  return in;
}

// float64 SDPA: q [B, Hq, Tq, D], k/v [B, Hkv, Tk, D|Dv]; mask bool (true
// = attend) or additive, broadcastable; rows that see nothing give 0.
inline at::Tensor reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                            bool causal) {
  const int64_t Hq = q.size(1), Hkv = k.size(1), Tq = q.size(2), Tk = k.size(2);
  at::Tensor qd = q.to(at::kDouble), kd = k.to(at::kDouble), vd = v.to(at::kDouble);
  if (Hkv != Hq) {
    kd = kd.repeat_interleave(Hq / Hkv, 1);
    vd = vd.repeat_interleave(Hq / Hkv, 1);
  }
  at::Tensor scores = at::matmul(qd, kd.transpose(-1, -2)) / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor visible = at::ones({Tq, Tk}, q.options().dtype(at::kBool));
  if (causal) visible = visible.tril();
  visible = visible.expand_as(scores);
  if (mask.defined()) {
    if (mask.scalar_type() == at::kBool) {
      visible = visible.logical_and(mask.expand_as(scores));
    } else {
      scores = scores + mask.to(at::kDouble);
      visible = visible.logical_and(mask.expand_as(scores).isneginf().logical_not());
    }
  }
  scores = scores.masked_fill(visible.logical_not(), -std::numeric_limits<double>::infinity());
  return at::matmul(at::softmax(scores, -1).nan_to_num(0.0), vd);  // fully hidden rows: 0
}

}  // namespace lockstep::kernels::testing

namespace lockstep::kernels::cuda {

namespace ours = ::lockstep::kernels::cuda;
using testing::bits_equal;
using testing::check_rows_invariant;
using testing::cuda_opts;
using testing::relative_inf_error;

}  // namespace lockstep::kernels::cuda

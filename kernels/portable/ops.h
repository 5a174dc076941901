// Portable mode's kernels (kernels/portable/order.h defines their orders,
// kernels/portable/math.h their functions): the same bits on the CPU and on
// CUDA, fp32 only. kernels/register.cpp routes aten ops here while the mode
// is portable; anything outside what they implement fails with a message
// rather than falling back to a stock kernel with other bits.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>

namespace lockstep::kernels::portable {

// Per backend (namespace cpu / cuda), the same signatures.
#define LOCKSTEP_PORTABLE_OPS                                                                                  \
  at::Tensor mm(const at::Tensor& a, const at::Tensor& b);                                                     \
  at::Tensor addmm(const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b, double beta, double alpha); \
  at::Tensor bmm(const at::Tensor& a, const at::Tensor& b);                                                    \
  /* sum/mean over the last dimension (the only reduction the models use) */                                  \
  at::Tensor sum_last(const at::Tensor& x, bool keepdim, bool mean);                                            \
  at::Tensor softmax_last(const at::Tensor& x, bool log);                                                       \
  /* elementwise: 0 rsqrt, 1 silu, 2 sigmoid, 3 exp, 4 tanh */                                                  \
  at::Tensor unary(const at::Tensor& x, int op);                                                                \
  at::Tensor rms_norm(const at::Tensor& x, const std::optional<at::Tensor>& weight, double eps);               \
  at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,                               \
                  const std::optional<at::Tensor>& mask, bool is_causal, double scale);

enum Unary : int { kRsqrt = 0, kSilu = 1, kSigmoid = 2, kExp = 3, kTanh = 4 };

namespace cpu {
LOCKSTEP_PORTABLE_OPS
}
namespace cuda {
LOCKSTEP_PORTABLE_OPS
}

// Shared argument checks (ops_common.cpp): TORCH_CHECK with "portable mode: ..." messages.
void check_fp32(const at::Tensor& t, const char* op);
// [.., Hq, Tq, D] etc.; returns the broadcast mask as float [B*Hq, Tq, Tk] additive (0 / -inf) or
// undefined when there is none.
at::Tensor additive_mask(const std::optional<at::Tensor>& mask, const at::Tensor& q, const at::Tensor& k);

}  // namespace lockstep::kernels::portable

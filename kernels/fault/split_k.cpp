// The splitk-gemm fault's GEMM (kernels/fault/fault.h): K cut into `splits`
// nearly equal parts, each part's product computed by lockstep's own GEMM,
// the partial products added in part order in fp32. Every element is still
// a correct dot product, only with another rounding: what a library does
// when its heuristic picks split-K for a small M.
#include "kernels/fault/fault_tensor.h"

namespace lockstep::kernels::fault {

at::Tensor split_k(const at::Tensor& a, const at::Tensor& b, const at::Tensor* bias, float alpha, float beta,
                   int64_t splits, Gemm gemm) {
  const int64_t K = a.size(1);
  at::Tensor total;
  for (int64_t s = 0; s < splits; ++s) {
    const int64_t k0 = K * s / splits, k1 = K * (s + 1) / splits;
    const at::Tensor part = gemm(a.narrow(1, k0, k1 - k0), b.narrow(0, k0, k1 - k0), nullptr, 1.0f, 0.0f).to(at::kFloat);
    total = total.defined() ? total.add_(part) : part.clone();
  }
  if (alpha != 1.0f) total.mul_(alpha);
  if (bias != nullptr && beta != 0.0f) total.add_(bias->to(at::kFloat) * beta);
  return total.to(a.scalar_type());
}

}  // namespace lockstep::kernels::fault

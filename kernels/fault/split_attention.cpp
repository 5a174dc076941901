// The attention-split fault's flash-decoding path (kernels/fault/fault.h):
// keys in splits of `split`, each split's scores, softmax and value sum in
// fp32 aten ops, the splits combined by their running maximum and sum.
// Correct attention with another rounding than lockstep's kernel: what a GPU
// library does when its split heuristic picks another kernel for another
// number of sequences. Hidden keys score -1e30, so a split without a
// visible key adds nothing once combined with one that has one.
#include <cmath>

#include "kernels/fault/fault_tensor.h"

namespace lockstep::kernels::fault {

at::Tensor split_sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                      const std::optional<at::Tensor>& mask, bool is_causal, std::optional<double> scale,
                      int64_t split) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention-split fault: expected 4-D q, k, v");
  const int64_t Hq = q.size(1), Hkv = k.size(1), Tq = q.size(2), Tk = k.size(2), D = q.size(3);
  at::Tensor kf = k.to(at::kFloat), vf = v.to(at::kFloat);
  if (Hq != Hkv) {
    kf = kf.repeat_interleave(Hq / Hkv, 1);
    vf = vf.repeat_interleave(Hq / Hkv, 1);
  }
  const at::Tensor qf = q.to(at::kFloat);
  const double sc = scale.value_or(1.0 / std::sqrt(static_cast<double>(D)));
  at::Tensor hidden, additive;
  if (is_causal) {
    hidden = at::ones({Tq, Tk}, at::kBool).tril().logical_not();
  } else if (mask && mask->defined()) {
    if (mask->scalar_type() == at::kBool)
      hidden = mask->logical_not();
    else
      additive = mask->to(at::kFloat);
  }
  at::Tensor M, L, acc;
  for (int64_t j0 = 0; j0 < Tk; j0 += split) {
    const int64_t n = std::min(split, Tk - j0);
    at::Tensor s = at::matmul(qf, kf.narrow(2, j0, n).transpose(2, 3)) * sc;
    if (additive.defined()) s = s + additive.narrow(-1, j0, n);
    if (hidden.defined()) s = s.masked_fill(hidden.narrow(-1, j0, n), -1e30);
    const at::Tensor m = std::get<0>(s.max(-1, /*keepdim=*/true));
    const at::Tensor p = at::exp(s - m);
    const at::Tensor l = p.sum(-1, /*keepdim=*/true);
    const at::Tensor a = at::matmul(p, vf.narrow(2, j0, n));
    if (!M.defined()) {
      M = m;
      L = l;
      acc = a;
      continue;
    }
    const at::Tensor Mn = at::maximum(M, m);
    const at::Tensor old_scale = at::exp(M - Mn), new_scale = at::exp(m - Mn);
    L = L * old_scale + l * new_scale;
    acc = acc * old_scale + a * new_scale;
    M = Mn;
  }
  return (acc / L).to(q.scalar_type());
}

}  // namespace lockstep::kernels::fault

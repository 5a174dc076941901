// aten SDPA on the CPU (dense [..., H, T, D] q/k/v, bool or additive mask,
// causal top-left aligned, GQA): argument checks, then the attention kernel
// (kernels/cpu/attention.cpp), which defines THE ORDER.
#include <cmath>
#include <vector>

#include "kernels/attention_operands.h"
#include "kernels/cpu/attention_problem.h"
#include "kernels/cpu/ops.h"
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault_tensor.h"
#endif

namespace lockstep::kernels::cpu {
namespace {

using attention::Problem;

// [..., H, T, D] -> [B, H, T, D] with a unit last stride, copying only when
// the leading dims cannot be merged or the last dim is strided.
at::Tensor canonical(const at::Tensor& x) {
  const int64_t batch = c10::multiply_integers(x.sizes().slice(0, x.dim() - 3));
  at::Tensor r = x.reshape({batch, x.size(-3), x.size(-2), x.size(-1)});
  return r.stride(-1) == 1 ? r : r.contiguous();
}

}  // namespace


at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                const std::optional<at::Tensor>& mask, bool is_causal, std::optional<double> scale,
                bool enable_gqa) {
  TORCH_CHECK(q.device().is_cpu() && k.device().is_cpu() && v.device().is_cpu(),
              "lockstep sdpa: expected CPU tensors");
  TORCH_CHECK(q.scalar_type() == at::kFloat || q.scalar_type() == at::kBFloat16,
              "lockstep sdpa: supports float32 and bfloat16, got ", q.scalar_type());
  TORCH_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(),
              "lockstep sdpa: q, k, v must share one dtype, got ", q.scalar_type(), ", ", k.scalar_type(), ", ",
              v.scalar_type());
  TORCH_CHECK(q.dim() >= 3 && k.dim() == q.dim() && v.dim() == q.dim(),
              "lockstep sdpa: q, k, v must be [..., H, T, D] of one rank >= 3, got ", q.sizes(), ", ", k.sizes(),
              ", ", v.sizes());
  TORCH_CHECK(q.sizes().slice(0, q.dim() - 3).equals(k.sizes().slice(0, k.dim() - 3)) &&
                  k.sizes().slice(0, k.dim() - 3).equals(v.sizes().slice(0, v.dim() - 3)),
              "lockstep sdpa: q, k, v batch dims differ: ", q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  TORCH_CHECK(k.size(-1) == q.size(-1) && k.size(-2) == v.size(-2) && k.size(-3) == v.size(-3),
              "lockstep sdpa: k must be [..., Hkv, Tk, D] and v [..., Hkv, Tk, Dv], got ", k.sizes(), ", ",
              v.sizes());
  TORCH_CHECK(q.size(-1) <= attention::kMaxHeadDim && v.size(-1) <= attention::kMaxHeadDim,
              "lockstep sdpa: head dims up to ", attention::kMaxHeadDim, " are implemented, got ", q.size(-1), " and ",
              v.size(-1));
  const int64_t Hq = q.size(-3), Hkv = k.size(-3);
  TORCH_CHECK(Hq == Hkv || (enable_gqa && Hkv > 0 && Hq % Hkv == 0), "lockstep sdpa: ", Hq, " query heads and ",
              Hkv, " kv heads need ", enable_gqa ? "Hq a multiple of Hkv" : "enable_gqa=true");
  TORCH_CHECK(!(is_causal && mask && mask->defined()),
              "lockstep sdpa: pass either is_causal or an explicit mask, not both (as stock)");
#ifdef LOCKSTEP_FAULT_INJECTION
  if (const int64_t s = fault::attention_kv_split(); s > 0 && q.dim() == 4) return fault::split_sdpa(q, k, v, mask, is_causal, scale, s);
#endif

  const at::Tensor q4 = canonical(q), k4 = canonical(k), v4 = canonical(v);
  Problem p{};
  set_attention_operands(p, q4, k4, v4);
  p.B = q4.size(0);
  p.Tq = q.size(-2);
  p.Tk = k.size(-2);
  p.causal = is_causal;
  p.scale = static_cast<float>(scale.value_or(1.0 / std::sqrt(static_cast<double>(p.D))));

  at::Tensor m4;
  if (mask && mask->defined()) {
    const at::Tensor& m = *mask;
    TORCH_CHECK(m.scalar_type() == at::kBool || m.scalar_type() == at::kFloat || m.scalar_type() == at::kBFloat16,
                "lockstep sdpa: mask must be bool or float32/bfloat16 additive, got ", m.scalar_type());
    std::vector<int64_t> full(q.sizes().begin(), q.sizes().end() - 1);
    full.push_back(p.Tk);
    // An additive bf16 mask is widened once (exactly); a broadcast mask
    // keeps its zero strides through expand + reshape.
    at::Tensor mx = m.scalar_type() == at::kBFloat16 ? m.to(at::kFloat) : m;
    m4 = mx.expand(full).reshape({p.B, Hq, p.Tq, p.Tk});
    for (int d = 0; d < 4; ++d) p.ms[d] = m4.stride(d);
    if (m4.scalar_type() == at::kBool)
      p.bool_mask = m4.data_ptr<bool>();
    else
      p.add_mask = m4.data_ptr<float>();
  }

  std::vector<int64_t> out_shape(q.sizes().begin(), q.sizes().end() - 1);
  out_shape.push_back(p.Dv);
  at::Tensor out = at::empty(out_shape, q.options());
  p.out = out.data_ptr();
  const at::Tensor zeros = at::zeros({p.D}, q.options());
  p.zero_row = zeros.data_ptr();
  const int64_t rows = p.B * Hq * p.Tq;
  const bool bf16 = q.scalar_type() == at::kBFloat16;
  attention::TransposedKeys keys;
  attention::transpose_keys(p, bf16, rows, keys);
  attention::run_rows_parallel(p, bf16, rows);
  return out;
}

}  // namespace lockstep::kernels::cpu

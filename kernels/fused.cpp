#include "kernels/fused.h"

#include <ATen/core/grad_mode.h>

#include <initializer_list>

#include "kernels/mode.h"

#ifdef LOCKSTEP_WITH_CUDA
#include "kernels/cuda/ops.h"
#endif

namespace lockstep::kernels::fused {

namespace composite {

// x * x is the bits of x.pow(2) (ATen squares by multiplying) without an op
// that `lockstep scan` must flag for its fractional exponents.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor variance = (xf * xf).mean(-1, /*keepdim=*/true);
  return weight * (xf * at::rsqrt(variance + eps)).to(x.scalar_type());
}

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

}  // namespace composite

namespace {

// The fused kernels' common ground: lockstep's kernels are on (the composite's
// reduction is then reduce.cu's, which the fused norm repeats), the tensors
// are dense CUDA tensors of one supported dtype, nothing records a gradient.
bool fusable(std::initializer_list<const at::Tensor*> ts) {
#ifdef LOCKSTEP_WITH_CUDA
  if (mode() != Mode::batch_invariant) return false;
  const at::Tensor& first = **ts.begin();
  if (!first.defined()) return false;
  const at::ScalarType t = first.scalar_type();
  if (t != at::kFloat && t != at::kBFloat16 && t != at::kHalf) return false;
  const bool grad = at::GradMode::is_enabled();
  for (const at::Tensor* p : ts) {
    const at::Tensor& x = *p;
    if (!x.defined() || !x.is_cuda() || x.layout() != at::kStrided || x.scalar_type() != t ||
        x.device() != first.device() || (grad && x.requires_grad())) {
      return false;
    }
    if (x.dim() > 0 && x.size(-1) > 1 && x.stride(-1) != 1) return false;
  }
  return true;
#else
  (void)ts;
  return false;
#endif
}

bool norm_fits(const at::Tensor& x, const at::Tensor& weight) {
  return (x.dim() == 2 || x.dim() == 3) && x.numel() > 0 && x.numel() / x.size(-1) <= 0x7fffffff &&
         weight.dim() == 1 && weight.size(0) == x.size(-1) && weight.is_contiguous();
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
#ifdef LOCKSTEP_WITH_CUDA
  if (fusable({&x, &weight}) && norm_fits(x, weight)) return cuda::fused_rms_norm(x, at::Tensor(), weight, eps).first;
#endif
  return composite::rms_norm(x, weight, eps);
}

at::Tensor add_rms_norm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight, double eps) {
#ifdef LOCKSTEP_WITH_CUDA
  if (fusable({&x, &delta, &weight}) && norm_fits(x, weight) && delta.sizes() == x.sizes()) {
    auto [h, sum] = cuda::fused_rms_norm(x, delta, weight, eps);
    x = sum;
    return h;
  }
#endif
  x = x + delta;
  return composite::rms_norm(x, weight, eps);
}

at::Tensor rope_write_kv(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                         const at::Tensor& sin, const at::Tensor& k_cache, const at::Tensor& v_cache,
                         const PagedStep& step) {
#ifdef LOCKSTEP_WITH_CUDA
  const auto fits = [&] {
    if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3 || cos.dim() != 3 || sin.dim() != 3) return false;
    const int64_t n = q.size(0), d = q.size(2), hkv = step.kv_heads();
    return n == step.tokens() && n > 0 && d % 2 == 0 && k.size(0) == n && v.size(0) == n && k.size(1) == hkv &&
           v.size(1) == hkv && k.size(2) == d && cos.sizes() == sin.sizes() && cos.size(0) == n &&
           cos.size(1) == 1 && cos.size(2) == d && k_cache.dim() == 4 && v_cache.dim() == 4 &&
           k_cache.is_contiguous() && v_cache.is_contiguous() && k_cache.size(1) == hkv && v_cache.size(1) == hkv &&
           k_cache.size(2) == step.block() && v_cache.size(2) == step.block() && k_cache.size(3) == d &&
           v_cache.size(3) == v.size(2) && step.cache_rows().defined() && step.cache_rows().is_cuda();
  };
  if (fusable({&q, &k, &v, &cos, &sin, &k_cache, &v_cache}) && fits()) {
    return cuda::fused_rope_write_kv(q, k, v, cos, sin, step.cache_rows(), k_cache, v_cache);
  }
#endif
  const at::Tensor q_rot = composite::rope(q, cos, sin);
  step.write(k_cache, composite::rope(k, cos, sin));
  step.write(v_cache, v);
  return q_rot;
}

at::Tensor silu_gate(const at::Tensor& gate, const at::Tensor& up) {
#ifdef LOCKSTEP_WITH_CUDA
  if (fusable({&gate, &up}) && gate.dim() == 2 && gate.sizes() == up.sizes()) return cuda::fused_silu_gate(gate, up);
#endif
  return at::silu(gate) * up;
}

}  // namespace lockstep::kernels::fused

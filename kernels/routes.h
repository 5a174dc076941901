// The routing rule of every op in kernels/ops.def: lockstep's kernel when
// the mode is batch_invariant and the arguments are inside what it
// implements, portable mode's kernel (or a clear refusal) in portable mode,
// else the stock kernel called directly (kernels/register.cpp's header says
// why never through the dispatcher). Templates over kernels/backends.h's
// Cpu and Cuda, so both backends share one rule an op; the LOCKSTEP_OWN_OP
// ops have a rule per backend, in Own<B>. No math here. Included by
// kernels/register.cpp only.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <tuple>

#include "kernels/backends.h"
#include "kernels/mode.h"
#include "kernels/sampling.h"

namespace lockstep::kernels::routes {

using backends::Cpu;
using backends::is_float_or_bf16;
using backends::OptTensor;
#ifdef LOCKSTEP_WITH_CUDA
using backends::Cuda;
#endif

inline bool on() { return mode() == Mode::batch_invariant; }
inline bool portable_on() { return mode() == Mode::portable; }

// Portable mode computes only what kernels/portable implements; anything else fails here with a
// message instead of running a stock kernel whose bits differ between the CPU and the GPU.
[[noreturn]] inline void portable_unsupported(const std::string& what) {
  TORCH_CHECK(false, "portable mode: ", what, " is not implemented (portable kernels: fp32 mm/addmm/bmm, sum/mean ",
              "and (log_)softmax over the last dimension, rms_norm, scaled_dot_product_attention, rsqrt, silu, ",
              "sigmoid)");
}

inline bool is_last_dim(int64_t dim, int64_t ndim) { return dim == -1 || (ndim > 0 && dim == ndim - 1) || (ndim == 0 && dim == 0); }

template <class B>
bool dense_on(const at::Tensor& t) {
  return t.defined() && t.device().type() == B::kDevice && t.layout() == at::kStrided;
}

template <class B>
bool optional_param_ok(const OptTensor& p) {
  return !p || !p->defined() || (dense_on<B>(*p) && B::row_dtype(p->scalar_type()));
}

// Composite ops get no autograd formula from a backend kernel; while a
// gradient is being recorded they stay on the (differentiable) composite.
inline bool records_grad(std::initializer_list<const at::Tensor*> ts) {
  if (!at::GradMode::is_enabled()) return false;
  for (const at::Tensor* t : ts) {
    if (t != nullptr && t->defined() && t->requires_grad()) return true;
  }
  return false;
}

template <class B>
bool gemm_ok(const at::Tensor& a, const at::Tensor& b, int64_t dims) {
  return dense_on<B>(a) && dense_on<B>(b) && a.dim() == dims && b.dim() == dims &&
         a.scalar_type() == b.scalar_type() && B::gemm_dtype(a.scalar_type()) && a.size(-1) == b.size(-2) &&
         (dims == 2 || a.size(0) == b.size(0));
}

template <class B>
at::Tensor mm(const at::Tensor& a, const at::Tensor& b) {
  if (portable_on()) return B::P::mm(a, b);
  return on() && gemm_ok<B>(a, b, 2) ? B::mm(a, b) : B::stock_mm(a, b);
}

template <class B>
at::Tensor addmm(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b, const at::Scalar& beta,
                 const at::Scalar& alpha) {
  const bool ok = gemm_ok<B>(a, b, 2) && dense_on<B>(c) && c.scalar_type() == a.scalar_type() && c.dim() <= 2 &&
                  !beta.isComplex() && !alpha.isComplex();
  if (portable_on()) return B::P::addmm(c, a, b, beta.toDouble(), alpha.toDouble());
  return on() && ok ? B::addmm(c, a, b, beta, alpha) : B::stock_addmm(c, a, b, beta, alpha);
}

template <class B>
at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) {
  if (portable_on()) return B::P::bmm(a, b);
  return on() && gemm_ok<B>(a, b, 3) ? B::bmm(a, b) : B::stock_bmm(a, b);
}

// softmax (kLog false) and log_softmax (kLog true). half_to_float is a
// CUDA-only stock feature; let the stock kernel decide.
template <class B, bool kLog>
at::Tensor any_softmax(const at::Tensor& x, int64_t dim, bool half_to_float) {
  const bool ok = dense_on<B>(x) && B::row_dtype(x.scalar_type()) && !half_to_float;
  if (portable_on()) {
    if (!is_last_dim(dim, x.dim()) || half_to_float) {
      portable_unsupported(std::string(kLog ? "log_softmax" : "softmax") + " over a dimension but the last");
    }
    return B::P::softmax_last(x, kLog);
  }
  if (!(on() && ok)) return kLog ? B::stock_log_softmax(x, dim, half_to_float) : B::stock_softmax(x, dim, half_to_float);
  return kLog ? B::log_softmax(x, dim, half_to_float) : B::softmax(x, dim, half_to_float);
}

template <class B>
at::Tensor softmax(const at::Tensor& x, int64_t dim, bool half_to_float) {
  return any_softmax<B, false>(x, dim, half_to_float);
}

template <class B>
at::Tensor log_softmax(const at::Tensor& x, int64_t dim, bool half_to_float) {
  return any_softmax<B, true>(x, dim, half_to_float);
}

template <class B>
bool reduce_ok(const at::Tensor& x, std::optional<at::ScalarType> dtype) {
  return dense_on<B>(x) && B::row_dtype(x.scalar_type()) && (!dtype || B::row_dtype(*dtype));
}

// Portable reductions: over the last dimension only, in fp32.
template <class B>
at::Tensor portable_sum(const at::Tensor& x, at::OptionalIntArrayRef dims, bool keepdim,
                        std::optional<at::ScalarType> dtype, bool mean) {
  const bool last = dims.has_value() && dims->size() == 1 && is_last_dim((*dims)[0], x.dim());
  const bool whole_1d = x.dim() == 1 && (!dims.has_value() || dims->empty() || last);
  if (!(last || whole_1d) || (dtype && *dtype != at::kFloat)) {
    portable_unsupported(std::string(mean ? "mean" : "sum") + " over dimensions other than the last");
  }
  return B::P::sum_last(x, keepdim, mean);
}

// sum (kMean false) and mean (kMean true).
template <class B, bool kMean>
at::Tensor sum_or_mean(const at::Tensor& x, at::OptionalIntArrayRef dims, bool keepdim,
                       std::optional<at::ScalarType> dtype) {
  if (portable_on()) return portable_sum<B>(x, dims, keepdim, dtype, kMean);
  if (!(on() && reduce_ok<B>(x, dtype))) {
    return kMean ? B::stock_mean(x, dims, keepdim, dtype) : B::stock_sum(x, dims, keepdim, dtype);
  }
  return kMean ? B::mean(x, dims, keepdim, dtype) : B::sum(x, dims, keepdim, dtype);
}

template <class B>
at::Tensor sum(const at::Tensor& x, at::OptionalIntArrayRef dims, bool keepdim, std::optional<at::ScalarType> dtype) {
  return sum_or_mean<B, false>(x, dims, keepdim, dtype);
}

template <class B>
at::Tensor mean(const at::Tensor& x, at::OptionalIntArrayRef dims, bool keepdim,
                std::optional<at::ScalarType> dtype) {
  return sum_or_mean<B, true>(x, dims, keepdim, dtype);
}

template <class B>
std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm(const at::Tensor& x, c10::SymIntArrayRef shape,
                                                          const OptTensor& w, const OptTensor& b, double eps) {
  const bool ok = dense_on<B>(x) && B::row_dtype(x.scalar_type()) && optional_param_ok<B>(w) &&
                  optional_param_ok<B>(b);
  if (portable_on()) portable_unsupported("layer_norm (GPT-2's norm)");
  if (on() && ok) return B::layer_norm(x, C10_AS_INTARRAYREF_SLOW(shape), w, b, eps);
  return B::stock_layer_norm(x, shape, w, b, eps);
}

template <class B>
bool rms_norm_ok(const at::Tensor& x, const OptTensor& w) {
  return dense_on<B>(x) && B::row_dtype(x.scalar_type()) && optional_param_ok<B>(w) &&
         !records_grad({&x, w ? &*w : nullptr});
}

template <class B>
std::tuple<at::Tensor, at::Tensor> fused_rms_norm(const at::Tensor& x, at::IntArrayRef shape, const OptTensor& w,
                                                  std::optional<double> eps) {
  if (portable_on()) {
    if (shape.size() != 1) portable_unsupported("rms_norm over more than the last dimension");
    const at::Tensor out = B::P::rms_norm(x, w, eps.value_or(std::numeric_limits<float>::epsilon()));
    return {out, at::Tensor()};
  }
  return on() && rms_norm_ok<B>(x, w) ? B::rms_norm(x, shape, w, eps) : B::stock_fused_rms_norm(x, shape, w, eps);
}

// aten::rms_norm is CompositeImplicitAutograd on every backend; on the CPU
// it does not even go through _fused_rms_norm, so it is overridden itself.
template <class B>
at::Tensor rms_norm(const at::Tensor& x, c10::SymIntArrayRef shape, const OptTensor& w, std::optional<double> eps) {
  if (portable_on()) {
    if (shape.size() != 1) portable_unsupported("rms_norm over more than the last dimension");
    return B::P::rms_norm(x, w, eps.value_or(std::numeric_limits<float>::epsilon()));
  }
  if (on() && rms_norm_ok<B>(x, w)) return std::get<0>(B::rms_norm(x, C10_AS_INTARRAYREF_SLOW(shape), w, eps));
  return at::compositeimplicitautograd::rms_norm_symint(x, shape, w, eps);
}

template <class B>
at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const OptTensor& mask,
                double dropout_p, bool is_causal, std::optional<double> scale, bool enable_gqa) {
  const bool qkv_ok = dense_on<B>(q) && dense_on<B>(k) && dense_on<B>(v) && B::row_dtype(q.scalar_type()) &&
                      k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type() && q.dim() >= 3 &&
                      k.dim() == q.dim() && v.dim() == q.dim();
  const bool mask_ok = !mask || !mask->defined() ||
                       (dense_on<B>(*mask) && (mask->scalar_type() == at::kBool || mask->scalar_type() == q.scalar_type()));
  const bool ok = qkv_ok && mask_ok && dropout_p == 0.0 && !records_grad({&q, &k, &v});
  if (portable_on()) {
    if (dropout_p != 0.0) portable_unsupported("attention with dropout");
    if (!enable_gqa && q.size(-3) != k.size(-3)) portable_unsupported("attention with other key/value heads without enable_gqa");
    // The default scale, 1/sqrt(D), once on the host in double (correctly rounded), then fp32.
    const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
    return B::P::sdpa(q, k, v, mask, is_causal, static_cast<double>(static_cast<float>(s)));
  }
  if (on() && ok) return B::sdpa(q, k, v, mask, is_causal, scale, enable_gqa);
  return at::compositeimplicitautograd::scaled_dot_product_attention(q, k, v, mask, dropout_p, is_causal, scale,
                                                                     enable_gqa);
}

// Elementwise ops whose stock kernels round differently on the CPU and the GPU (rsqrt on CUDA is
// not correctly rounded): portable mode's own; otherwise stock (or, for silu/sigmoid on the CPU,
// the batch-invariant ones below). Stock bf16/fp16 rsqrt on the CPU rounds sqrt to the dtype
// before dividing in its scalar tail but not in its vector body, so an element's bits depend on
// where the batch puts it (tests/kernels/backend_ops_test.cpp): the mode runs those in fp32 (a
// correctly rounded sqrt and division, body and tail alike) and rounds once to the dtype.
template <class B>
at::Tensor rsqrt(const at::Tensor& x) {
  if (portable_on()) return B::P::unary(x, portable::kRsqrt);
  const bool reduced = x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf;
  if (on() && reduced && B::kDevice == c10::DeviceType::CPU) {
    return B::stock_rsqrt(x.to(at::kFloat)).to(x.scalar_type());
  }
  return B::stock_rsqrt(x);
}

// Sampling (kernels/sampling.h): a row's samples depend on its own probabilities and one draw
// per call, not on the rows beside it. Portable mode keeps the stock sampler.
template <class B>
at::Tensor multinomial(const at::Tensor& p, int64_t n, bool replacement, std::optional<at::Generator> g) {
  return on() && dense_on<B>(p) ? invariant_multinomial(p, n, replacement, std::move(g))
                                : B::stock_multinomial(p, n, replacement, std::move(g));
}

// The LOCKSTEP_OWN_OP ops, a rule a backend. silu and sigmoid: on the CPU lockstep's kernels
// (kernels/cpu/elementwise.cpp says why; a CUDA thread computes each element with one
// formula), portable mode's on both.
template <class B>
struct Own;

inline bool unary_ok(const at::Tensor& x) { return x.layout() == at::kStrided && is_float_or_bf16(x.scalar_type()); }

// One elementwise op on the CPU: portable mode's kernel (op kPortable),
// lockstep's (kOwn) or the stock one; in place, the first two write their
// result back and the stock op runs its own in-place form (kStockInplace).
template <int kPortable, at::Tensor (*kOwn)(const at::Tensor&), at::Tensor (*kStock)(const at::Tensor&),
          at::Tensor& (*kStockInplace)(at::Tensor&)>
struct CpuUnary {
  static at::Tensor out(const at::Tensor& x) {
    if (portable_on()) return portable::cpu::unary(x, kPortable);
    return on() && unary_ok(x) ? kOwn(x) : kStock(x);
  }
  static at::Tensor& inplace(at::Tensor& x) {
    if (portable_on()) return x.copy_(portable::cpu::unary(x, kPortable));
    return on() && unary_ok(x) ? x.copy_(kOwn(x)) : kStockInplace(x);
  }
};

template <>
struct Own<Cpu> {
  using Silu = CpuUnary<portable::kSilu, cpu::silu, at::cpu::silu, at::cpu::silu_>;
  using Sigmoid = CpuUnary<portable::kSigmoid, cpu::sigmoid, at::cpu::sigmoid, at::cpu::sigmoid_>;
  static at::Tensor silu(const at::Tensor& x) { return Silu::out(x); }
  static at::Tensor& silu_inplace(at::Tensor& x) { return Silu::inplace(x); }
  static at::Tensor sigmoid(const at::Tensor& x) { return Sigmoid::out(x); }
  static at::Tensor& sigmoid_inplace(at::Tensor& x) { return Sigmoid::inplace(x); }
};

#ifdef LOCKSTEP_WITH_CUDA
template <>
struct Own<Cuda> {
  static at::Tensor silu(const at::Tensor& x) {
    return portable_on() ? portable::cuda::unary(x, portable::kSilu) : at::cuda::silu(x);
  }
  static at::Tensor& silu_inplace(at::Tensor& x) {
    return portable_on() ? x.copy_(portable::cuda::unary(x, portable::kSilu)) : at::cuda::silu_(x);
  }
  static at::Tensor sigmoid(const at::Tensor& x) {
    return portable_on() ? portable::cuda::unary(x, portable::kSigmoid) : at::cuda::sigmoid(x);
  }
  static at::Tensor& sigmoid_inplace(at::Tensor& x) {
    return portable_on() ? x.copy_(portable::cuda::unary(x, portable::kSigmoid)) : at::cuda::sigmoid_(x);
  }
};
#endif

}  // namespace lockstep::kernels::routes

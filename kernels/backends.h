// The two backends register.cpp overrides, one struct each: lockstep's
// kernels (ours), the stock kernels called directly as C++ functions (never
// through the dispatcher, which would come straight back to register.cpp),
// portable mode's kernels (P), and what ours accept. The routing rules
// (kernels/routes.h) are templates over these structs, so CPU and CUDA share
// one rule per op. Included by routes.h only.
#pragma once

#include <ATen/ops/_fused_rms_norm_compositeimplicitautograd_dispatch.h>
#include <ATen/ops/_log_softmax_cpu_dispatch.h>
#include <ATen/ops/_softmax_cpu_dispatch.h>
#include <ATen/ops/addmm_cpu_dispatch.h>
#include <ATen/ops/bmm_cpu_dispatch.h>
#include <ATen/ops/mean_cpu_dispatch.h>
#include <ATen/ops/mm_cpu_dispatch.h>
#include <ATen/ops/multinomial_cpu_dispatch.h>
#include <ATen/ops/native_layer_norm_cpu_dispatch.h>
#include <ATen/ops/rms_norm_compositeimplicitautograd_dispatch.h>
#include <ATen/ops/sigmoid_cpu_dispatch.h>
#include <ATen/ops/silu_cpu_dispatch.h>
#include <ATen/ops/scaled_dot_product_attention_compositeimplicitautograd_dispatch.h>
#include <ATen/ops/sum_cpu_dispatch.h>
#include <ATen/ops/rsqrt_cpu_dispatch.h>

#include <optional>

#include "kernels/cpu/ops.h"
#include "kernels/portable/ops.h"

#ifdef LOCKSTEP_WITH_CUDA
#include <ATen/ops/_fused_rms_norm_cuda_dispatch.h>
#include <ATen/ops/_log_softmax_cuda_dispatch.h>
#include <ATen/ops/_softmax_cuda_dispatch.h>
#include <ATen/ops/addmm_cuda_dispatch.h>
#include <ATen/ops/bmm_cuda_dispatch.h>
#include <ATen/ops/mean_cuda_dispatch.h>
#include <ATen/ops/mm_cuda_dispatch.h>
#include <ATen/ops/multinomial_cuda_dispatch.h>
#include <ATen/ops/native_layer_norm_cuda_dispatch.h>
#include <ATen/ops/sum_cuda_dispatch.h>
#include <ATen/ops/rsqrt_cuda_dispatch.h>
#include <ATen/ops/sigmoid_cuda_dispatch.h>
#include <ATen/ops/silu_cuda_dispatch.h>

#include "kernels/cuda/ops.h"
#endif

namespace lockstep::kernels::backends {

using OptTensor = std::optional<at::Tensor>;

inline bool is_float_or_bf16(at::ScalarType t) { return t == at::kFloat || t == at::kBFloat16; }

// One backend: lockstep's kernels, the stock ones, and what ours accept.
struct Cpu {
  static constexpr c10::DeviceType kDevice = c10::DeviceType::CPU;
  struct P {
    static at::Tensor mm(const at::Tensor& a, const at::Tensor& b) { return portable::cpu::mm(a, b); }
    static at::Tensor addmm(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b, double beta, double alpha) {
      return portable::cpu::addmm(c, a, b, beta, alpha);
    }
    static at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) { return portable::cpu::bmm(a, b); }
    static at::Tensor sum_last(const at::Tensor& x, bool keep, bool mean) { return portable::cpu::sum_last(x, keep, mean); }
    static at::Tensor softmax_last(const at::Tensor& x, bool log) { return portable::cpu::softmax_last(x, log); }
    static at::Tensor unary(const at::Tensor& x, int op) { return portable::cpu::unary(x, op); }
    static at::Tensor rms_norm(const at::Tensor& x, const OptTensor& w, double eps) {
      return portable::cpu::rms_norm(x, w, eps);
    }
    static at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const OptTensor& m, bool c,
                           double scale) {
      return portable::cpu::sdpa(q, k, v, m, c, scale);
    }
  };
  static at::Tensor stock_rsqrt(const at::Tensor& x) { return at::cpu::rsqrt(x); }
  static at::Tensor stock_multinomial(const at::Tensor& p, int64_t n, bool r, std::optional<at::Generator> g) {
    return at::cpu::multinomial(p, n, r, std::move(g));
  }
  static at::Tensor stock_silu(const at::Tensor& x) { return at::cpu::silu(x); }
  static at::Tensor stock_sigmoid(const at::Tensor& x) { return at::cpu::sigmoid(x); }
  static bool gemm_dtype(at::ScalarType t) { return is_float_or_bf16(t); }
  static bool row_dtype(at::ScalarType t) { return is_float_or_bf16(t); }

  static at::Tensor mm(const at::Tensor& a, const at::Tensor& b) { return cpu::mm(a, b); }
  static at::Tensor stock_mm(const at::Tensor& a, const at::Tensor& b) { return at::cpu::mm(a, b); }
  static at::Tensor addmm(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b, const at::Scalar& beta,
                          const at::Scalar& alpha) {
    return cpu::addmm(c, a, b, beta, alpha);
  }
  static at::Tensor stock_addmm(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b,
                                const at::Scalar& beta, const at::Scalar& alpha) {
    return at::cpu::addmm(c, a, b, beta, alpha);
  }
  static at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) { return cpu::bmm(a, b); }
  static at::Tensor stock_bmm(const at::Tensor& a, const at::Tensor& b) { return at::cpu::bmm(a, b); }
  static at::Tensor softmax(const at::Tensor& x, int64_t dim, bool h) { return cpu::softmax(x, dim, h); }
  static at::Tensor stock_softmax(const at::Tensor& x, int64_t dim, bool h) { return at::cpu::_softmax(x, dim, h); }
  static at::Tensor log_softmax(const at::Tensor& x, int64_t dim, bool h) { return cpu::log_softmax(x, dim, h); }
  static at::Tensor stock_log_softmax(const at::Tensor& x, int64_t dim, bool h) {
    return at::cpu::_log_softmax(x, dim, h);
  }
  static at::Tensor sum(const at::Tensor& x, at::OptionalIntArrayRef d, bool k, std::optional<at::ScalarType> t) {
    return cpu::sum(x, d, k, t);
  }
  static at::Tensor stock_sum(const at::Tensor& x, at::OptionalIntArrayRef d, bool k,
                              std::optional<at::ScalarType> t) {
    return at::cpu::sum(x, d, k, t);
  }
  static at::Tensor mean(const at::Tensor& x, at::OptionalIntArrayRef d, bool k, std::optional<at::ScalarType> t) {
    return cpu::mean(x, d, k, t);
  }
  static at::Tensor stock_mean(const at::Tensor& x, at::OptionalIntArrayRef d, bool k,
                               std::optional<at::ScalarType> t) {
    return at::cpu::mean(x, d, k, t);
  }
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm(const at::Tensor& x, at::IntArrayRef s,
                                                                   const OptTensor& w, const OptTensor& b,
                                                                   double eps) {
    return cpu::layer_norm(x, s, w, b, eps);
  }
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> stock_layer_norm(const at::Tensor& x,
                                                                         c10::SymIntArrayRef s,
                                                                         const OptTensor& w,
                                                                         const OptTensor& b, double eps) {
    return at::cpu::native_layer_norm_symint(x, s, w, b, eps);
  }
  static std::tuple<at::Tensor, at::Tensor> rms_norm(const at::Tensor& x, at::IntArrayRef s, const OptTensor& w,
                                                     std::optional<double> eps) {
    return cpu::rms_norm(x, s, w, eps);
  }
  // On the CPU the stock _fused_rms_norm is the composite.
  static std::tuple<at::Tensor, at::Tensor> stock_fused_rms_norm(const at::Tensor& x, at::IntArrayRef s,
                                                                 const OptTensor& w, std::optional<double> eps) {
    return at::compositeimplicitautograd::_fused_rms_norm(x, s, w, eps);
  }
  static at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const OptTensor& mask,
                         bool causal, std::optional<double> scale, bool gqa) {
    return cpu::sdpa(q, k, v, mask, causal, scale, gqa);
  }
};

#ifdef LOCKSTEP_WITH_CUDA
struct Cuda {
  static constexpr c10::DeviceType kDevice = c10::DeviceType::CUDA;
  struct P {
    static at::Tensor mm(const at::Tensor& a, const at::Tensor& b) { return portable::cuda::mm(a, b); }
    static at::Tensor addmm(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b, double beta, double alpha) {
      return portable::cuda::addmm(c, a, b, beta, alpha);
    }
    static at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) { return portable::cuda::bmm(a, b); }
    static at::Tensor sum_last(const at::Tensor& x, bool keep, bool mean) { return portable::cuda::sum_last(x, keep, mean); }
    static at::Tensor softmax_last(const at::Tensor& x, bool log) { return portable::cuda::softmax_last(x, log); }
    static at::Tensor unary(const at::Tensor& x, int op) { return portable::cuda::unary(x, op); }
    static at::Tensor rms_norm(const at::Tensor& x, const OptTensor& w, double eps) {
      return portable::cuda::rms_norm(x, w, eps);
    }
    static at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const OptTensor& m, bool c,
                           double scale) {
      return portable::cuda::sdpa(q, k, v, m, c, scale);
    }
  };
  static at::Tensor stock_rsqrt(const at::Tensor& x) { return at::cuda::rsqrt(x); }
  static at::Tensor stock_multinomial(const at::Tensor& p, int64_t n, bool r, std::optional<at::Generator> g) {
    return at::cuda::multinomial(p, n, r, std::move(g));
  }
  static at::Tensor stock_silu(const at::Tensor& x) { return at::cuda::silu(x); }
  static at::Tensor stock_sigmoid(const at::Tensor& x) { return at::cuda::sigmoid(x); }
  static bool gemm_dtype(at::ScalarType t) { return is_float_or_bf16(t) || t == at::kHalf; }
  static bool row_dtype(at::ScalarType t) { return is_float_or_bf16(t) || t == at::kHalf; }

  static at::Tensor mm(const at::Tensor& a, const at::Tensor& b) { return cuda::mm(a, b); }
  static at::Tensor stock_mm(const at::Tensor& a, const at::Tensor& b) { return at::cuda::mm(a, b); }
  static at::Tensor addmm(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b, const at::Scalar& beta,
                          const at::Scalar& alpha) {
    return cuda::addmm(c, a, b, beta, alpha);
  }
  static at::Tensor stock_addmm(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b,
                                const at::Scalar& beta, const at::Scalar& alpha) {
    return at::cuda::addmm(c, a, b, beta, alpha);
  }
  static at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) { return cuda::bmm(a, b); }
  static at::Tensor stock_bmm(const at::Tensor& a, const at::Tensor& b) { return at::cuda::bmm(a, b); }
  static at::Tensor softmax(const at::Tensor& x, int64_t dim, bool h) { return cuda::softmax(x, dim, h); }
  static at::Tensor stock_softmax(const at::Tensor& x, int64_t dim, bool h) {
    return at::cuda::_softmax(x, dim, h);
  }
  static at::Tensor log_softmax(const at::Tensor& x, int64_t dim, bool h) { return cuda::log_softmax(x, dim, h); }
  static at::Tensor stock_log_softmax(const at::Tensor& x, int64_t dim, bool h) {
    return at::cuda::_log_softmax(x, dim, h);
  }
  static at::Tensor sum(const at::Tensor& x, at::OptionalIntArrayRef d, bool k, std::optional<at::ScalarType> t) {
    return cuda::sum(x, d, k, t);
  }
  static at::Tensor stock_sum(const at::Tensor& x, at::OptionalIntArrayRef d, bool k,
                              std::optional<at::ScalarType> t) {
    return at::cuda::sum(x, d, k, t);
  }
  static at::Tensor mean(const at::Tensor& x, at::OptionalIntArrayRef d, bool k, std::optional<at::ScalarType> t) {
    return cuda::mean(x, d, k, t);
  }
  static at::Tensor stock_mean(const at::Tensor& x, at::OptionalIntArrayRef d, bool k,
                               std::optional<at::ScalarType> t) {
    return at::cuda::mean(x, d, k, t);
  }
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm(const at::Tensor& x, at::IntArrayRef s,
                                                                   const OptTensor& w, const OptTensor& b,
                                                                   double eps) {
    return cuda::layer_norm(x, s, w, b, eps);
  }
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> stock_layer_norm(const at::Tensor& x,
                                                                         c10::SymIntArrayRef s,
                                                                         const OptTensor& w,
                                                                         const OptTensor& b, double eps) {
    return at::cuda::native_layer_norm_symint(x, s, w, b, eps);
  }
  static std::tuple<at::Tensor, at::Tensor> rms_norm(const at::Tensor& x, at::IntArrayRef s, const OptTensor& w,
                                                     std::optional<double> eps) {
    return cuda::rms_norm(x, s, w, eps);
  }
  static std::tuple<at::Tensor, at::Tensor> stock_fused_rms_norm(const at::Tensor& x, at::IntArrayRef s,
                                                                 const OptTensor& w, std::optional<double> eps) {
    return at::cuda::_fused_rms_norm(x, s, w, eps);
  }
  static at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const OptTensor& mask,
                         bool causal, std::optional<double> scale, bool gqa) {
    return cuda::sdpa(q, k, v, mask, causal, scale, gqa);
  }
};
#endif

}  // namespace lockstep::kernels::backends

// lockstep's CPU kernels. Each computes every output element with a
// reduction order that depends only on the static shape (K, the reduced
// length, head dim), never on M, the batch, the thread count or the ISA
// path taken. They know nothing about the dispatcher: kernels/register.cpp
// routes aten ops here when the mode is batch_invariant.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

namespace lockstep::kernels::cpu {

// GEMM family: fp32 and bf16 (fp32 accumulate), any strides.
at::Tensor mm(const at::Tensor& a, const at::Tensor& b);                 // [M,K] @ [K,N]
at::Tensor addmm(const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b,
                 const at::Scalar& beta, const at::Scalar& alpha);
at::Tensor bmm(const at::Tensor& a, const at::Tensor& b);                // [B,M,K] @ [B,K,N]

// Elementwise ops whose stock CPU kernels round an element differently in
// the scalar tail of a thread's chunk (kernels/cpu/elementwise.cpp).
at::Tensor silu(const at::Tensor& x);
at::Tensor sigmoid(const at::Tensor& x);

// Row reductions.
at::Tensor softmax(const at::Tensor& x, int64_t dim, bool half_to_float);
at::Tensor log_softmax(const at::Tensor& x, int64_t dim, bool half_to_float);
at::Tensor sum(const at::Tensor& x, at::OptionalIntArrayRef dims, bool keepdim,
               std::optional<at::ScalarType> dtype);
at::Tensor mean(const at::Tensor& x, at::OptionalIntArrayRef dims, bool keepdim,
                std::optional<at::ScalarType> dtype);
// aten::native_layer_norm: (out, mean, rstd).
std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm(const at::Tensor& x, at::IntArrayRef normalized_shape,
                                                          const std::optional<at::Tensor>& weight,
                                                          const std::optional<at::Tensor>& bias, double eps);
// aten::_fused_rms_norm: (out, rstd).
std::tuple<at::Tensor, at::Tensor> rms_norm(const at::Tensor& x, at::IntArrayRef normalized_shape,
                                            const std::optional<at::Tensor>& weight, std::optional<double> eps);

// aten::scaled_dot_product_attention semantics with dropout 0:
// q [..., Hq, Tq, D], k/v [..., Hkv, Tk, D] (Hq a multiple of Hkv when
// enable_gqa), mask bool (true = attend) or additive, broadcastable to
// [..., Hq, Tq, Tk]; is_causal is top-left aligned as in PyTorch. Keys are
// reduced in splits of kKvSplit positions at fixed boundaries (0, S, 2S, ..),
// combined in split order; masked-out keys are skipped, so a query's result
// does not depend on Tq, on keys it cannot see, or on the batch.
at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                const std::optional<at::Tensor>& mask, bool is_causal, std::optional<double> scale,
                bool enable_gqa);

// The engine's attention over a paged KV cache (kernels/paged_attention.h
// has the contract): q [N, Hq, D]; caches [blocks, Hkv, block, D]; tables int32
// [sequences, blocks]; tok_seq / tok_pos int64 [N]. Every query row gets the
// bits sdpa above gives it over its own sequence's keys.
at::Tensor paged_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                           const at::Tensor& tables, const at::Tensor& tok_seq, const at::Tensor& tok_pos,
                           int64_t block, int64_t window, double scale);

}  // namespace lockstep::kernels::cpu

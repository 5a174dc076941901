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

#include "kernels/backend_ops.inc"   // mm ... sdpa

// Elementwise ops whose stock CPU kernels round an element differently in
// the scalar tail of a thread's chunk (kernels/cpu/elementwise.cpp).
at::Tensor silu(const at::Tensor& x);
at::Tensor sigmoid(const at::Tensor& x);

// The engine's attention over a paged KV cache (kernels/paged_attention.h
// has the contract): q [N, Hq, D]; caches [blocks, Hkv, block, D]; tables int32
// [sequences, blocks]; tok_seq / tok_pos int64 [N]. Every query row gets the
// bits sdpa above gives it over its own sequence's keys.
at::Tensor paged_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                           const at::Tensor& tables, const at::Tensor& tok_seq, const at::Tensor& tok_pos,
                           int64_t block, int64_t window, double scale);

}  // namespace lockstep::kernels::cpu

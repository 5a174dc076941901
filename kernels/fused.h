// The decoder's elementwise chains as one kernel each, with the bits of the
// composite aten sequence they replace.
//
// Every function here computes exactly what its composite (below, in
// `composite`) computes. Under Mode::batch_invariant on CUDA, for fp32, bf16
// and fp16, it runs one fused CUDA kernel (kernels/cuda/fused_*.cu) that
// repeats each op's rounding: the composite's ops are lockstep's registered
// kernels (mean: kernels/cuda/reduce.cu's ORDER) or stock aten elementwise
// kernels (opmath fp32, one rounding to the dtype per op). Anywhere else
// (CPU, mode off or portable, other dtypes or layouts) it runs the composite
// itself, so the call sites need not know which path ran. The point is the
// launch count: a decode step of a small model is bound by kernel launches,
// not by bytes (issue 17).
#pragma once

#include <ATen/ATen.h>

#include "kernels/paged_attention.h"

namespace lockstep::kernels::fused {

// transformers' LlamaRMSNorm: x.to(fp32); (xf * xf).mean(-1); + eps; rsqrt;
// xf * that; .to(x's dtype); weight * that. x [..., L] (the last dim with
// unit stride on CUDA: rows of a fused projection or heads of one are fine),
// weight [L] in x's dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// The residual add folded into the next norm: x = x + delta (aten add, in x's
// dtype), then rms_norm(x). Replaces x by the sum; returns the norm.
at::Tensor add_rms_norm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight, double eps);

// RoPE on q and k (q * cos + rotate_half(q) * sin, each op rounded to the
// dtype as in eager aten), then the rotated k and v written into the caches
// at every token's slot (PagedStep::write). q [N, Hq, D], k [N, Hkv, D],
// v [N, Hkv, Dv] (any strides with a unit last stride), cos/sin [N, 1, D] in
// the same dtype; caches [blocks, Hkv, block, D|Dv]. Returns the rotated q
// ([N, Hq, D], contiguous). No host synchronisation: CUDA-graph safe.
at::Tensor rope_write_kv(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                         const at::Tensor& sin, const at::Tensor& k_cache, const at::Tensor& v_cache,
                         const PagedStep& step);

// SwiGLU's gate: at::silu(gate) * up, gate and up [N, F] (e.g. the two halves
// of one gate_up projection).
at::Tensor silu_gate(const at::Tensor& gate, const at::Tensor& up);

// The composite sequences themselves: what the functions above compute, and
// what they run where no fused kernel applies.
namespace composite {
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
at::Tensor rotate_half(const at::Tensor& x);
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
}  // namespace composite

}  // namespace lockstep::kernels::fused

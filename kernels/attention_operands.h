// The operand fields that the CPU attention Problem (kernels/cpu/
// attention_problem.h) and the CUDA attention Params (kernels/cuda/
// attention_kernel.cuh) share, filled the same way for both: pointers, heads,
// head dims and element strides.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lockstep::kernels {

// q, k and v have their heads at dim 1 and the head dim last (contiguous):
// dense q/k/v [B, H, T, D] (strides of batch, head, position), or paged
// q [N, Hq, D] (strides of token, head) with caches [blocks, Hkv, block, D]
// (strides of block, head, position in block).
template <class P>
void set_attention_operands(P& p, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  p.q = q.const_data_ptr();
  p.k = k.const_data_ptr();
  p.v = v.const_data_ptr();
  p.Hq = q.size(1);
  p.Hkv = k.size(1);
  p.D = q.size(-1);
  p.Dv = v.size(-1);
  for (int64_t d = 0; d < 3; ++d) {
    if (d < q.dim() - 1) p.qs[d] = q.stride(d);
    p.ks[d] = k.stride(d);
    p.vs[d] = v.stride(d);
  }
}

}  // namespace lockstep::kernels

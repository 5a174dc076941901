// lockstep's own GEMM, for the shapes no pinned cuBLASLt algorithm serves
// (and for float64). Slow but plainly invariant: one thread computes each
// output element, accumulating k = 0, 1, .., K-1 in order with one fma per
// term, in fp32 (fp64 for float64). Nothing about M, the batch or the tile
// position enters the arithmetic.
#pragma once

#include <ATen/core/Tensor.h>

namespace lockstep::kernels::cuda::gemm {

// out[b] = alpha * a[b] . b[b] (+ beta * out[b] when with_c), with a
// [batch, M, K] and b [batch, K, N] of any strides and out a contiguous
// [batch, M, N] tensor of their dtype.
void fallback_gemm(const at::Tensor& a, const at::Tensor& b, at::Tensor& out, double alpha, double beta,
                   bool with_c);

}  // namespace lockstep::kernels::cuda::gemm

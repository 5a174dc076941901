// Host side of the row kernels: any tensor and a set of reduced dims become a
// 2-d [R, L] view whose rows have unit stride (copied only when needed).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace lockstep::kernels::cuda::rows {

// `reduced`: wrapped dims, any order, no repeats. The kept dims come first in
// their order, the reduced dims last in increasing order, so the reduction
// order over a multi-dim reduction is the row-major order of those dims.
at::Tensor as_rows(const at::Tensor& x, std::vector<int64_t> reduced);

// The 16-byte load path is allowed: row starts aligned, L a multiple of the
// chunk width (it never changes bits, see row_reduce.cuh).
bool can_vectorize(const at::Tensor& rows);

// Sizes of x without the reduced dims (keepdim: with them as 1).
std::vector<int64_t> reduced_sizes(const at::Tensor& x, const std::vector<int64_t>& reduced, bool keepdim);

// Wrapped, sorted dims of a reduction; nullopt or empty = all dims.
std::vector<int64_t> reduction_dims(const at::Tensor& x, at::OptionalIntArrayRef dims);

}  // namespace lockstep::kernels::cuda::rows

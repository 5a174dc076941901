// Portable mode's fp32 GEMM on CUDA (kernels/portable/cuda_gemm.cu): every output element is
// order.h's dot product, one fma chain over k = 0..K-1 from +0, then the epilogue; bit for bit
// cpu.cpp's. Several launch paths (tile sizes, a decode kernel) share that chain, so they give the
// same bits; gemm() picks one from the shape. The path entry points are for tests and benchmarks.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace lockstep::kernels::portable::cuda {

// C[M, N] (row stride ldc) = A[M, K] @ B[K, N], any strides; then out = acc * alpha + beta * bias,
// each step only where it changes something (bias [M, N] with strides sbm / sbn, or null). On the
// current stream. path < 0: gemm_path_for's choice.
void gemm(const float* A, int64_t sa0, int64_t sa1, const float* B, int64_t sb0, int64_t sb1, float* C, int64_t ldc,
          int64_t M, int64_t N, int64_t K, const float* bias, int64_t sbm, int64_t sbn, float beta, float alpha,
          int path = -1);

int gemm_path_count();
const char* gemm_path_name(int path);
// Whether a path takes M rows (the decode paths take at most 8).
bool gemm_path_fits(int path, int64_t M);
// The path gemm() takes for this shape (b_is_wt: B is nn.Linear's W^T, contiguous along k).
int gemm_path_for(int64_t M, int64_t N, int64_t K, bool b_is_wt);
// mm (bias undefined) or addmm on one path; fp32 CUDA tensors, a [M, K], b [K, N], bias broadcast to [M, N].
at::Tensor gemm_on_path(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias, double beta,
                        double alpha, int path);

}  // namespace lockstep::kernels::portable::cuda

// The reduction order (see gemm_fallback.h): acc = fma(a[m][k], b[k][n], acc)
// for k ascending from acc = +0. Tiles only decide which thread does it.
#include "kernels/cuda/gemm_fallback.h"

#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

namespace lockstep::kernels::cuda::gemm {
namespace {

constexpr int kTile = 64;        // outputs per block side
constexpr int kTileK = 16;       // k per shared-memory stage
constexpr int kThreads = 256;    // 16 x 16 threads, 4 x 4 outputs each
constexpr int kPer = kTile / 16;
constexpr int64_t kMaxGridY = 65535;
constexpr int64_t kMaxGridZ = 65535;

template <typename T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };

__device__ __forceinline__ float fused(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double fused(double a, double b, double c) { return fma(a, b, c); }

struct Strides {
  int64_t batch, row, col;
};

template <typename T, typename Acc>
__global__ void __launch_bounds__(kThreads)
    fallback_gemm_kernel(const T* __restrict__ a, Strides as, const T* __restrict__ b, Strides bs,
                         T* __restrict__ out, int64_t m_begin, int64_t M, int64_t N, int64_t K, Acc alpha, Acc beta,
                         bool with_c) {
  __shared__ Acc a_tile[kTileK][kTile + 1];  // [k][m]
  __shared__ Acc b_tile[kTileK][kTile + 1];  // [k][n]
  const int tx = static_cast<int>(threadIdx.x) % 16, ty = static_cast<int>(threadIdx.x) / 16;
  const int64_t batch = blockIdx.z;
  const int64_t m0 = m_begin + static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTile;
  a += batch * as.batch;
  b += batch * bs.batch;
  out += batch * M * N;

  Acc acc[kPer][kPer];
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
#pragma unroll
    for (int j = 0; j < kPer; ++j) acc[i][j] = Acc(0);
  }

  for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
    for (int i = static_cast<int>(threadIdx.x); i < kTileK * kTile; i += kThreads) {
      const int kk = i / kTile, mn = i % kTile;
      const int64_t k = k0 + kk, m = m0 + mn, n = n0 + mn;
      a_tile[kk][mn] = (k < K && m < M) ? static_cast<Acc>(a[m * as.row + k * as.col]) : Acc(0);
      b_tile[kk][mn] = (k < K && n < N) ? static_cast<Acc>(b[k * bs.row + n * bs.col]) : Acc(0);
    }
    __syncthreads();
    const int k_end = static_cast<int>(std::min<int64_t>(kTileK, K - k0));
    for (int kk = 0; kk < k_end; ++kk) {  // k ascending: the one order
      Acc av[kPer], bv[kPer];
#pragma unroll
      for (int i = 0; i < kPer; ++i) av[i] = a_tile[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < kPer; ++j) bv[j] = b_tile[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
#pragma unroll
        for (int j = 0; j < kPer; ++j) acc[i][j] = fused(av[i], bv[j], acc[i][j]);
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kPer; ++i) {
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m >= M || n >= N) continue;
      Acc r = alpha * acc[i][j];
      if (with_c) r = r + beta * static_cast<Acc>(out[m * N + n]);
      out[m * N + n] = static_cast<T>(r);
    }
  }
}

}  // namespace

void fallback_gemm(const at::Tensor& a, const at::Tensor& b, at::Tensor& out, double alpha, double beta,
                   bool with_c) {
  TORCH_CHECK(a.dim() == 3 && b.dim() == 3 && out.dim() == 3, "fallback_gemm: 3-d operands expected");
  TORCH_CHECK(out.is_contiguous(), "fallback_gemm: out must be contiguous");
  const int64_t batch = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  if (batch == 0 || M == 0 || N == 0) return;
  const c10::cuda::CUDAGuard guard(a.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "lockstep_fallback_gemm", [&] {
    using Acc = typename AccOf<scalar_t>::type;
    const Strides as{a.stride(0), a.stride(1), a.stride(2)};
    const Strides bs{b.stride(0), b.stride(1), b.stride(2)};
    const int64_t grid_x = (N + kTile - 1) / kTile;
    TORCH_CHECK(grid_x <= 0x7fffffff, "fallback_gemm: N too large");
    for (int64_t z0 = 0; z0 < batch; z0 += kMaxGridZ) {
      const int64_t nz = std::min(kMaxGridZ, batch - z0);
      for (int64_t m_begin = 0; m_begin < M; m_begin += kMaxGridY * kTile) {
        const int64_t rows = std::min(kMaxGridY * kTile, M - m_begin);
        const dim3 grid(static_cast<unsigned>(grid_x), static_cast<unsigned>((rows + kTile - 1) / kTile),
                        static_cast<unsigned>(nz));
        fallback_gemm_kernel<scalar_t, Acc><<<grid, kThreads, 0, stream>>>(
            a.const_data_ptr<scalar_t>() + z0 * as.batch, as, b.const_data_ptr<scalar_t>() + z0 * bs.batch, bs,
            out.data_ptr<scalar_t>() + z0 * M * N, m_begin, M, N, K, static_cast<Acc>(alpha),
            static_cast<Acc>(beta), with_c);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      }
    }
  });
}

}  // namespace lockstep::kernels::cuda::gemm

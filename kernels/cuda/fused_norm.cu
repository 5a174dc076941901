// RMSNorm as one kernel per row, with the bits of kernels/fused.h's composite
// under Mode::batch_invariant, op by op:
//   x.to(float)            exact;
//   xf * xf                one fp32 product per element, rounded (aten mul);
//   .mean(-1)              reduce.cu's sum_rows on the fp32 row: the ORDER of
//                          row_reduce.cuh for a float row (chunks of 4 floats,
//                          threads_for(L, 4) threads, for_owned, block_sum),
//                          then sum / (float)L;
//   + eps                  aten's add of a double scalar to an fp32 tensor: the
//                          scalar is cast to float, one fp32 add;
//   at::rsqrt              lockstep registers rsqrt over aten but runs the
//                          stock kernel outside portable mode: ::rsqrt(float),
//                          i.e. rsqrtf, rsqrt.approx.f32 (no ftz, as here);
//   xf * rstd, .to(dtype)  one fp32 product, rounded to the dtype (RNE);
//   weight * y             aten mul: both to fp32, one product, rounded.
// With a residual, x + delta is first rounded to the dtype as aten's add
// (fp32 sum of the two, one rounding) and written out. This file builds with
// --fmad=false like every lockstep kernel, so no product fuses with a sum:
// each of the composite's ops keeps its own rounding.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/rsqrt.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/cuda/fused_dispatch.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/row_reduce.cuh"

namespace lockstep::kernels::cuda {
namespace {

// Rows r = n * heads + h start at x + n * s0 + h * s1 (and delta likewise);
// outputs are contiguous [R, L].
struct RowsArgs {
  int64_t heads, x_s0, x_s1, d_s0, d_s1, length;
  float eps;
};

template <typename T, bool kAdd>
__global__ void rms_norm_rows(const T* __restrict__ x, const T* __restrict__ delta, const T* __restrict__ weight,
                              T* __restrict__ out, T* __restrict__ sum_out, RowsArgs a) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x, n = r / a.heads, h = r % a.heads, L = a.length;
  const T* row = x + n * a.x_s0 + h * a.x_s1;
  const T* drow = kAdd ? delta + n * a.d_s0 + h * a.d_s1 : nullptr;
  T* srow = kAdd ? sum_out + r * L : nullptr;
  T* orow = out + r * L;
  // The fp32 row the composite's mean reduces: its chunks are 4 floats wide
  // whatever T is (the mean runs after x.to(float)).
  constexpr int W = rows::chunk_width<float>();
  const int64_t chunks = (L + W - 1) / W;
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
#pragma unroll
    for (int e = 0; e < W; ++e) {
      const int64_t i = c * W + e;
      if (i < L) {
        float v;
        if constexpr (kAdd) {
          const T sum = static_cast<T>(static_cast<float>(row[i]) + static_cast<float>(drow[i]));
          srow[i] = sum;
          v = static_cast<float>(sum);
        } else {
          v = static_cast<float>(row[i]);
        }
        const float sq = v * v;
        s = s + sq;
      }
    }
  }
  s = rows::block_sum(s, scratch);
  const float mean = s / static_cast<float>(L);
  const float rstd = rsqrtf(mean + a.eps);
  // The same elements as above, by the same thread (it reads back its own sums).
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
#pragma unroll
    for (int e = 0; e < W; ++e) {
      const int64_t i = c * W + e;
      if (i < L) {
        const float v = kAdd ? static_cast<float>(srow[i]) : static_cast<float>(row[i]);
        const T y = static_cast<T>(v * rstd);
        orow[i] = static_cast<T>(static_cast<float>(weight[i]) * static_cast<float>(y));
      }
    }
  }
}

}  // namespace

std::pair<at::Tensor, at::Tensor> fused_rms_norm(const at::Tensor& x, const at::Tensor& delta,
                                                 const at::Tensor& weight, double eps) {
  const c10::cuda::CUDAGuard guard(x.device());
  const bool add = delta.defined();
  const bool three = x.dim() == 3;
  const int64_t L = x.size(-1), heads = three ? x.size(1) : 1;
  const int64_t R = x.size(0) * heads;
  TORCH_CHECK(R <= 0x7fffffff, "fused_rms_norm: too many rows");
  RowsArgs a{heads, x.stride(0), three ? x.stride(1) : 0, add ? delta.stride(0) : 0,
             add && three ? delta.stride(1) : 0, L, static_cast<float>(eps)};
  at::Tensor out = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  at::Tensor sum = add ? at::empty_like(out) : at::Tensor();
  if (R == 0 || L == 0) return {out, sum};
  // The thread count of the composite's mean over the fp32 row.
  const int threads = rows::threads_for(L, rows::chunk_width<float>());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  LOCKSTEP_DISPATCH_FUSED(x.scalar_type(), "lockstep_fused_rms_norm", [&] {
    if (add) {
      rms_norm_rows<scalar_t, true><<<static_cast<unsigned>(R), threads, 0, stream>>>(
          x.const_data_ptr<scalar_t>(), delta.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
          out.data_ptr<scalar_t>(), sum.data_ptr<scalar_t>(), a);
    } else {
      rms_norm_rows<scalar_t, false><<<static_cast<unsigned>(R), threads, 0, stream>>>(
          x.const_data_ptr<scalar_t>(), nullptr, weight.const_data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
          nullptr, a);
    }
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {out, sum};
}

}  // namespace lockstep::kernels::cuda

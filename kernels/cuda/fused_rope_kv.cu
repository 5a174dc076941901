// RoPE on q and k and the paged KV-cache write in one kernel, with the bits of
// kernels/fused.h's composite: q * cos + rotate_half(q) * sin in the dtype's
// eager aten arithmetic, i.e. per element
//   t1 = round(x[d] * cos[d]),  t2 = round(rot[d] * sin[d]),  out = round(t1 + t2)
// (each product and the sum in fp32, one rounding to the dtype each; for fp32
// the roundings are the products' and the sum's own), where rotate_half is
// exact: rot[d] = -x[d + D/2] for d < D/2, x[d - D/2] after. The rotated k and
// the untouched v go straight to their cache rows, as PagedStep::write's
// index_copy_ over cache_rows() would put them. Built with --fmad=false: the
// products never fuse into the sum. No host synchronisation (graph-safe).
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/cuda/fused_dispatch.cuh"
#include "kernels/cuda/ops.h"

namespace lockstep::kernels::cuda {
namespace {

constexpr int kThreads = 256;

struct RopeArgs {
  int64_t hq, hkv, d, dv;
  int64_t q_s0, q_s1, k_s0, k_s1, v_s0, v_s1, c_s0, s_s0;
};

template <typename T>
__device__ __forceinline__ T rotate(const T* __restrict__ x, const T* __restrict__ cos, const T* __restrict__ sin,
                                    int64_t d, int64_t half) {
  const float rot = d < half ? -static_cast<float>(x[d + half]) : static_cast<float>(x[d - half]);
  const T t1 = static_cast<T>(static_cast<float>(x[d]) * static_cast<float>(cos[d]));
  const T t2 = static_cast<T>(rot * static_cast<float>(sin[d]));
  return static_cast<T>(static_cast<float>(t1) + static_cast<float>(t2));
}

// Block (n, y) does items y * kThreads .. of token n: first the rotated q
// and k elements (head-major), then the v elements.
template <typename T>
__global__ void rope_write_kv(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                              const T* __restrict__ cos, const T* __restrict__ sin, const int64_t* __restrict__ rows,
                              T* __restrict__ k_cache, T* __restrict__ v_cache, T* __restrict__ q_out, RopeArgs a) {
  const int64_t n = blockIdx.x;
  const int64_t item = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
  const int64_t rotated = (a.hq + a.hkv) * a.d;
  const T* c = cos + n * a.c_s0;
  const T* s = sin + n * a.s_s0;
  if (item < rotated) {
    const int64_t h = item / a.d, d = item % a.d;
    if (h < a.hq) {
      q_out[(n * a.hq + h) * a.d + d] = rotate(q + n * a.q_s0 + h * a.q_s1, c, s, d, a.d / 2);
    } else {
      const int64_t kh = h - a.hq;
      k_cache[rows[n * a.hkv + kh] * a.d + d] = rotate(k + n * a.k_s0 + kh * a.k_s1, c, s, d, a.d / 2);
    }
  } else if (item < rotated + a.hkv * a.dv) {
    const int64_t i = item - rotated, h = i / a.dv, d = i % a.dv;
    v_cache[rows[n * a.hkv + h] * a.dv + d] = v[n * a.v_s0 + h * a.v_s1 + d];
  }
}

}  // namespace

at::Tensor fused_rope_write_kv(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                               const at::Tensor& sin, const at::Tensor& rows, const at::Tensor& k_cache,
                               const at::Tensor& v_cache) {
  const c10::cuda::CUDAGuard guard(q.device());
  TORCH_CHECK(rows.scalar_type() == at::kLong && rows.is_contiguous() && rows.numel() == k.size(0) * k.size(1),
              "fused_rope_write_kv: rows must be int64 [N * Hkv]");
  const int64_t n = q.size(0);
  RopeArgs a{q.size(1), k.size(1), q.size(2), v.size(2), q.stride(0), q.stride(1), k.stride(0), k.stride(1),
             v.stride(0), v.stride(1), cos.stride(0), sin.stride(0)};
  at::Tensor out = at::empty(q.sizes(), q.options().memory_format(at::MemoryFormat::Contiguous));
  const int64_t items = (a.hq + a.hkv) * a.d + a.hkv * a.dv;
  if (n == 0 || items == 0) return out;
  TORCH_CHECK(n <= 0x7fffffff && (items + kThreads - 1) / kThreads <= 65535, "fused_rope_write_kv: too large");
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>((items + kThreads - 1) / kThreads));
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  LOCKSTEP_DISPATCH_FUSED(q.scalar_type(), "lockstep_fused_rope_write_kv", [&] {
    rope_write_kv<scalar_t><<<grid, kThreads, 0, stream>>>(
        q.const_data_ptr<scalar_t>(), k.const_data_ptr<scalar_t>(), v.const_data_ptr<scalar_t>(),
        cos.const_data_ptr<scalar_t>(), sin.const_data_ptr<scalar_t>(), rows.const_data_ptr<int64_t>(),
        k_cache.data_ptr<scalar_t>(), v_cache.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), a);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace lockstep::kernels::cuda

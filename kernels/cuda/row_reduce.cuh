// Shared pieces of the row kernels (softmax, log_softmax, sum, mean,
// layer_norm, rms_norm). THE ORDER, for a row of L elements of type T:
//  * the row is cut into chunks of W = 16 / sizeof(T) consecutive elements;
//  * a block of T(L) threads works on the row, T(L) = the power of two >=
//    the chunk count, clamped to [32, 1024] — a function of L and the dtype
//    only, never of the number of rows or of the GPU;
//  * thread t takes chunks t, t + T, t + 2T, .. and adds their elements in
//    increasing index into one accumulator (fp32; fp64 for float64, int64
//    for integer sums);
//  * a warp adds its 32 partials by an xor butterfly (16, 8, 4, 2, 1); the
//    warps' results are then added in warp order 0, 1, .., T/32 - 1.
// Whether a chunk is read with one 16-byte load or element by element
// changes nothing above, so alignment never changes bits. One block per row:
// the order cannot depend on which rows share the launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace lockstep::kernels::cuda::rows {

template <typename T>
constexpr int chunk_width() {
  return sizeof(T) >= 16 ? 1 : static_cast<int>(16 / sizeof(T));
}

inline int threads_for(int64_t length, int width) {
  const int64_t chunks = (length + width - 1) / width;
  int threads = 32;
  while (threads < 1024 && threads < chunks) threads *= 2;
  return threads;
}

// Calls f(index, value) for every element this thread owns, in increasing
// index. kVec: the row start is 16-byte aligned and L is a multiple of W.
template <typename T, bool kVec, typename F>
__device__ __forceinline__ void for_owned(const T* __restrict__ row, int64_t length, F&& f) {
  constexpr int W = chunk_width<T>();
  const int64_t chunks = (length + W - 1) / W;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
    const int64_t base = c * W;
    if constexpr (kVec && W > 1) {
      alignas(16) T vals[W];
      *reinterpret_cast<uint4*>(vals) = *reinterpret_cast<const uint4*>(row + base);
#pragma unroll
      for (int e = 0; e < W; ++e) f(base + e, vals[e]);
    } else {
#pragma unroll
      for (int e = 0; e < W; ++e) {
        if (base + e < length) f(base + e, row[base + e]);
      }
    }
  }
}

// out[i] = g(i, in[i]) for every owned element, stored 16 bytes at a time
// when kVec and Out has T's size (so the output chunk is 16 bytes too).
template <typename T, typename Out, bool kVec, typename G>
__device__ __forceinline__ void map_owned(const T* __restrict__ in, Out* __restrict__ out, int64_t length, G&& g) {
  constexpr int W = chunk_width<T>();
  const int64_t chunks = (length + W - 1) / W;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
    const int64_t base = c * W;
    if constexpr (kVec && W > 1) {
      alignas(16) T vals[W];
      *reinterpret_cast<uint4*>(vals) = *reinterpret_cast<const uint4*>(in + base);
      if constexpr (sizeof(Out) == sizeof(T)) {
        alignas(16) Out res[W];
#pragma unroll
        for (int e = 0; e < W; ++e) res[e] = g(base + e, vals[e]);
        *reinterpret_cast<uint4*>(out + base) = *reinterpret_cast<const uint4*>(res);
      } else {
#pragma unroll
        for (int e = 0; e < W; ++e) out[base + e] = g(base + e, vals[e]);
      }
    } else {
#pragma unroll
      for (int e = 0; e < W; ++e) {
        if (base + e < length) out[base + e] = g(base + e, in[base + e]);
      }
    }
  }
}

// The block's sum in the fixed tree above; every thread gets it. `scratch`
// holds 32 values; the block size is a multiple of 32.
template <typename Acc>
__device__ __forceinline__ Acc block_sum(Acc v, Acc* scratch) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v = v + __shfl_xor_sync(0xffffffffu, v, offset);
  const int warp = static_cast<int>(threadIdx.x) / 32, warps = static_cast<int>(blockDim.x) / 32;
  if (threadIdx.x % 32 == 0) scratch[warp] = v;
  __syncthreads();
  Acc total = scratch[0];
  for (int w = 1; w < warps; ++w) total = total + scratch[w];
  __syncthreads();  // scratch may be reused at once
  return total;
}

// Maximum (exact in any order); NaN is ignored here and propagates later
// through x - max.
template <typename Acc>
__device__ __forceinline__ Acc block_max(Acc v, Acc* scratch) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, offset));
  const int warp = static_cast<int>(threadIdx.x) / 32, warps = static_cast<int>(blockDim.x) / 32;
  if (threadIdx.x % 32 == 0) scratch[warp] = v;
  __syncthreads();
  Acc total = scratch[0];
  for (int w = 1; w < warps; ++w) total = fmax(total, scratch[w]);
  __syncthreads();
  return total;
}

}  // namespace lockstep::kernels::cuda::rows

// CUDA argmax, smallest index on ties. One block per row; every thread scans
// a strided slice (float4 loads where the row allows), then a shared-memory tree combines (value, index) pairs
// with "greater value, or equal value and smaller index". That combine is
// associative and commutative, so the answer does not depend on the block
// size or on the order threads finish: it is the first maximum, as on CPU.
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>

#include "kernels/argmax.h"

namespace lockstep::kernels {
namespace {

constexpr int kThreads = 512;

__device__ inline bool better(float v, long long i, float best_v, long long best_i) {
  return v > best_v || (v == best_v && i < best_i);
}

// The scan of one thread's elements; `sentinel` (n) loses every comparison.
struct Best {
  float v = -INFINITY;
  long long i;
  __device__ explicit Best(long long sentinel) : i(sentinel) {}
  __device__ void see(float x, long long at, long long sentinel, int& nan) {
    if (isnan(x)) nan = 1;
    if (i == sentinel || better(x, at, v, i)) {
      v = x;
      i = at;
    }
  }
};

// One block per row. Rows of a multiple of 4 elements, 16-byte aligned, are read as float4
// (each thread's indices still ascend, and the combine does not care in which
// order candidates come). A row holding a NaN gets -1 and sets *saw_nan.
__global__ void argmax_rows(const float* __restrict__ data, long long n, bool quads_ok, long long* __restrict__ out,
                            int* __restrict__ saw_nan) {
  __shared__ float values[kThreads];
  __shared__ long long indices[kThreads];
  __shared__ int row_nan;
  if (threadIdx.x == 0) row_nan = 0;
  __syncthreads();
  const float* row = data + blockIdx.x * n;
  Best best(n);
  int nan = 0;
  if (quads_ok) {
    const float4* quads = reinterpret_cast<const float4*>(row);
    for (long long q = threadIdx.x; q < n / 4; q += blockDim.x) {
      const float4 x = quads[q];
      best.see(x.x, 4 * q, n, nan);
      best.see(x.y, 4 * q + 1, n, nan);
      best.see(x.z, 4 * q + 2, n, nan);
      best.see(x.w, 4 * q + 3, n, nan);
    }
  } else {
    for (long long i = threadIdx.x; i < n; i += blockDim.x) best.see(row[i], i, n, nan);
  }
  if (nan) atomicOr(&row_nan, 1);
  values[threadIdx.x] = best.v;
  indices[threadIdx.x] = best.i;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      const float v = values[threadIdx.x + stride];
      const long long i = indices[threadIdx.x + stride];
      const bool own_empty = indices[threadIdx.x] == n;
      if (i != n && (own_empty || better(v, i, values[threadIdx.x], indices[threadIdx.x]))) {
        values[threadIdx.x] = v;
        indices[threadIdx.x] = i;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[blockIdx.x] = row_nan ? -1 : indices[0];
    if (row_nan) atomicOr(saw_nan, 1);
  }
}

}  // namespace

at::Tensor argmax_cuda(const at::Tensor& logits, NanCheck check) {
  TORCH_CHECK(logits.device().is_cuda(), "argmax_cuda: tensor must be on a CUDA device");
  TORCH_CHECK(logits.scalar_type() == at::kFloat, "argmax: logits must be float32");
  TORCH_CHECK(logits.dim() == 1 || logits.dim() == 2, "argmax: logits must be [n] or [rows, n]");
  const c10::cuda::CUDAGuard guard(logits.device());
  at::Tensor rows = (logits.dim() == 1 ? logits.unsqueeze(0) : logits).contiguous();
  const int64_t n_rows = rows.size(0), n = rows.size(1);
  TORCH_CHECK(n > 0, "argmax: empty rows");
  at::Tensor out = at::empty({n_rows}, rows.options().dtype(at::kLong));
  at::Tensor saw_nan = at::zeros({1}, rows.options().dtype(at::kInt));
  if (n_rows > 0) {
    auto stream = at::cuda::getCurrentCUDAStream();
    argmax_rows<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(
        rows.data_ptr<float>(), n, n % 4 == 0 && reinterpret_cast<uintptr_t>(rows.data_ptr<float>()) % 16 == 0,
        reinterpret_cast<long long*>(out.data_ptr<int64_t>()),
        saw_nan.data_ptr<int>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  if (check == NanCheck::now) TORCH_CHECK(saw_nan.item<int>() == 0, "argmax: NaN logit on ", logits.device().str());
  return logits.dim() == 1 ? out.squeeze(0) : out;
}

}  // namespace lockstep::kernels

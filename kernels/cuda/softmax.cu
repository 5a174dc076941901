// softmax / log_softmax over one dim (aten::_softmax, aten::_log_softmax).
// Per row (one block, the order of row_reduce.cuh):
//   m = max x_i (exact in any order)
//   s = sum exp(x_i - m)              (fp32; fp64 for float64; the fixed tree)
//   softmax: y_i = exp(x_i - m) / s;  log_softmax: y_i = (x_i - m) - log(s)
// Nothing depends on the number of rows.
#include <ATen/Dispatch.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cmath>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/row_reduce.cuh"
#include "kernels/cuda/rows_layout.h"

namespace lockstep::kernels::cuda {
namespace {

template <typename T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };

__device__ __forceinline__ float exp_of(float x) { return expf(x); }
__device__ __forceinline__ double exp_of(double x) { return exp(x); }
__device__ __forceinline__ float log_of(float x) { return logf(x); }
__device__ __forceinline__ double log_of(double x) { return log(x); }

template <typename T, typename Out, bool kVec, bool kLog>
__global__ void softmax_rows(const T* __restrict__ x, int64_t x_stride, Out* __restrict__ y, int64_t length) {
  using Acc = typename AccOf<T>::type;
  __shared__ Acc scratch[32];
  const T* row = x + static_cast<int64_t>(blockIdx.x) * x_stride;
  Out* out = y + static_cast<int64_t>(blockIdx.x) * length;

  Acc m = -INFINITY;
  rows::for_owned<T, kVec>(row, length, [&](int64_t, T v) { m = fmax(m, static_cast<Acc>(v)); });
  m = rows::block_max(m, scratch);

  Acc s = 0;
  rows::for_owned<T, kVec>(row, length, [&](int64_t, T v) { s = s + exp_of(static_cast<Acc>(v) - m); });
  s = rows::block_sum(s, scratch);

  if constexpr (kLog) {
    const Acc log_s = log_of(s);
    rows::map_owned<T, Out, kVec>(row, out, length,
                                  [&](int64_t, T v) { return static_cast<Out>((static_cast<Acc>(v) - m) - log_s); });
  } else {
    rows::map_owned<T, Out, kVec>(row, out, length,
                                  [&](int64_t, T v) { return static_cast<Out>(exp_of(static_cast<Acc>(v) - m) / s); });
  }
}

template <typename T, typename Out, bool kLog>
void launch(const at::Tensor& rows_in, at::Tensor& out) {
  const int64_t R = rows_in.size(0), L = rows_in.size(1);
  TORCH_CHECK(R <= 0x7fffffff, "softmax: too many rows");
  const int threads = rows::threads_for(L, rows::chunk_width<T>());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const T* x = rows_in.const_data_ptr<T>();
  Out* y = out.data_ptr<Out>();
  if (rows::can_vectorize(rows_in)) {
    softmax_rows<T, Out, true, kLog><<<static_cast<unsigned>(R), threads, 0, stream>>>(x, rows_in.stride(0), y, L);
  } else {
    softmax_rows<T, Out, false, kLog><<<static_cast<unsigned>(R), threads, 0, stream>>>(x, rows_in.stride(0), y, L);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <bool kLog>
at::Tensor softmax_impl(const at::Tensor& x_in, int64_t dim_in, bool half_to_float, const char* name) {
  TORCH_CHECK(x_in.is_cuda(), name, ": expected a CUDA tensor");
  const at::ScalarType t = x_in.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kHalf || t == at::kBFloat16 || t == at::kDouble, name,
              ": unsupported dtype ", t);
  TORCH_CHECK(!half_to_float || t == at::kHalf || t == at::kBFloat16, name,
              ": half_to_float needs a half or bfloat16 input");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.dim() == 0 ? x_in.reshape({1}) : x_in;
  const int64_t dim = at::maybe_wrap_dim(dim_in, x.dim());
  const at::Tensor rows_in = rows::as_rows(x, {dim});
  const at::ScalarType out_type = half_to_float ? at::kFloat : t;
  at::Tensor out = at::empty({rows_in.size(0), rows_in.size(1)}, x.options().dtype(out_type));
  if (out.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, t, "lockstep_softmax", [&] {
      if (half_to_float) {
        launch<scalar_t, float, kLog>(rows_in, out);
      } else {
        launch<scalar_t, scalar_t, kLog>(rows_in, out);
      }
    });
  }
  // rows are [kept dims..., dim]: put dim back where it was.
  std::vector<int64_t> moved;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d != dim) moved.push_back(x.size(d));
  }
  moved.push_back(x.size(dim));
  at::Tensor result = out.reshape(moved).movedim(-1, dim);
  if (dim != x.dim() - 1) result = result.contiguous();
  return x_in.dim() == 0 ? result.reshape({}) : result;
}

}  // namespace

at::Tensor softmax(const at::Tensor& x, int64_t dim, bool half_to_float) {
  return softmax_impl<false>(x, dim, half_to_float, "softmax");
}

at::Tensor log_softmax(const at::Tensor& x, int64_t dim, bool half_to_float) {
  return softmax_impl<true>(x, dim, half_to_float, "log_softmax");
}

}  // namespace lockstep::kernels::cuda

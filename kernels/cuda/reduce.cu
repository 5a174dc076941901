// sum / mean over dims (aten::sum.dim_IntList, aten::mean.dim). The reduced
// dims are moved last, so each output element is one row, reduced by one
// block in the order of row_reduce.cuh: fp32 for fp32/fp16/bf16 inputs, fp64
// for float64, int64 for integers and bool (exact). mean = sum / L in the
// accumulator type. The result rounds once to the output dtype.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <type_traits>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/row_reduce.cuh"
#include "kernels/cuda/rows_layout.h"

namespace lockstep::kernels::cuda {
namespace {

template <typename T, typename Acc, bool kVec>
__global__ void sum_rows(const T* __restrict__ x, int64_t x_stride, Acc* __restrict__ out, int64_t length,
                         bool divide) {
  __shared__ Acc scratch[32];
  const T* row = x + static_cast<int64_t>(blockIdx.x) * x_stride;
  Acc s = 0;
  rows::for_owned<T, kVec>(row, length, [&](int64_t, T v) { s = s + static_cast<Acc>(v); });
  s = rows::block_sum(s, scratch);
  if (threadIdx.x == 0) out[blockIdx.x] = divide ? s / static_cast<Acc>(length) : s;
}

template <typename T, typename Acc>
void launch(const at::Tensor& rows_in, at::Tensor& out, bool divide) {
  const int64_t R = rows_in.size(0), L = rows_in.size(1);
  TORCH_CHECK(R <= 0x7fffffff, "sum: too many output elements");
  const int threads = rows::threads_for(L, rows::chunk_width<T>());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  if (rows::can_vectorize(rows_in)) {
    sum_rows<T, Acc, true><<<static_cast<unsigned>(R), threads, 0, stream>>>(
        rows_in.const_data_ptr<T>(), rows_in.stride(0), out.data_ptr<Acc>(), L, divide);
  } else {
    sum_rows<T, Acc, false><<<static_cast<unsigned>(R), threads, 0, stream>>>(
        rows_in.const_data_ptr<T>(), rows_in.stride(0), out.data_ptr<Acc>(), L, divide);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor reduce(const at::Tensor& x_in, at::OptionalIntArrayRef dims, bool keepdim, at::ScalarType out_type,
                  bool divide, const char* name) {
  TORCH_CHECK(x_in.is_cuda(), name, ": expected a CUDA tensor");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const bool scalar = x_in.dim() == 0;
  const at::Tensor x0 = scalar ? x_in.reshape({1}) : x_in;
  const std::vector<int64_t> reduced = rows::reduction_dims(x0, dims);
  // A floating output reduces the input cast to it (as aten does); integer
  // outputs accumulate the integers exactly in int64.
  const bool floating_out = at::isFloatingType(out_type);
  TORCH_CHECK(floating_out || at::isIntegralType(out_type, /*includeBool=*/true), name, ": unsupported dtype ",
              out_type);
  at::Tensor x = x0;
  if (floating_out && x.scalar_type() != out_type) x = x.to(out_type);
  if (!floating_out && at::isFloatingType(x.scalar_type())) x = x.to(out_type);
  if (floating_out) {
    const at::ScalarType t = x.scalar_type();
    TORCH_CHECK(t == at::kFloat || t == at::kHalf || t == at::kBFloat16 || t == at::kDouble, name,
                ": unsupported dtype ", t);
  }
  const at::Tensor rows_in = rows::as_rows(x, reduced);
  const at::ScalarType acc_type =
      floating_out ? (x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat) : at::kLong;
  at::Tensor acc = at::empty({rows_in.size(0)}, x.options().dtype(acc_type));
  if (acc.numel() > 0) {
    if (floating_out) {
      AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "lockstep_reduce", [&] {
        if constexpr (std::is_same_v<scalar_t, double>) {
          launch<scalar_t, double>(rows_in, acc, divide);
        } else {
          launch<scalar_t, float>(rows_in, acc, divide);
        }
      });
    } else {
      AT_DISPATCH_INTEGRAL_TYPES_AND(at::kBool, x.scalar_type(), "lockstep_reduce",
                                     [&] { launch<scalar_t, int64_t>(rows_in, acc, false); });
    }
  }
  std::vector<int64_t> sizes = rows::reduced_sizes(x0, reduced, keepdim);
  if (scalar) sizes.clear();
  return acc.to(out_type).reshape(sizes);
}

}  // namespace

at::Tensor sum(const at::Tensor& x, at::OptionalIntArrayRef dims, bool keepdim, std::optional<at::ScalarType> dtype) {
  const at::ScalarType in = x.scalar_type();
  const at::ScalarType out_type =
      dtype.has_value() ? *dtype : (at::isIntegralType(in, /*includeBool=*/true) ? at::kLong : in);
  return reduce(x, dims, keepdim, out_type, false, "sum");
}

at::Tensor mean(const at::Tensor& x, at::OptionalIntArrayRef dims, bool keepdim,
                std::optional<at::ScalarType> dtype) {
  const at::ScalarType out_type = dtype.has_value() ? *dtype : x.scalar_type();
  TORCH_CHECK(at::isFloatingType(out_type), "mean: input dtype should be floating point, got ", out_type);
  return reduce(x, dims, keepdim, out_type, true, "mean");
}

}  // namespace lockstep::kernels::cuda

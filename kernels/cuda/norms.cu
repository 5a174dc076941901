// layer_norm (aten::native_layer_norm) and rms_norm (aten::_fused_rms_norm)
// over the trailing normalized_shape. One block per row, sums in the order
// of row_reduce.cuh, in fp32 (fp64 for float64):
//   layer_norm: mean = (sum x) / L;  var = (sum (x - mean)^2) / L (two-pass);
//               rstd = 1 / sqrt(var + eps);  y = ((x - mean) * rstd) * w + b
//   rms_norm:   rstd = 1 / sqrt((sum x^2) / L + eps);  y = (x * rstd) * w
//               (eps defaults to the accumulator type's epsilon, as aten)
// mean / rstd come back in the accumulator type with the statistics shape
// [leading dims..., 1, .., 1], as aten's CUDA kernels return them.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <limits>
#include <type_traits>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/row_reduce.cuh"
#include "kernels/cuda/rows_layout.h"

namespace lockstep::kernels::cuda {
namespace {

template <typename T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };

template <typename T, bool kVec>
__global__ void layer_norm_rows(const T* __restrict__ x, int64_t x_stride, const typename AccOf<T>::type* weight,
                                const typename AccOf<T>::type* bias, T* __restrict__ y,
                                typename AccOf<T>::type* mean_out, typename AccOf<T>::type* rstd_out,
                                int64_t length, typename AccOf<T>::type eps) {
  using Acc = typename AccOf<T>::type;
  __shared__ Acc scratch[32];
  const T* row = x + static_cast<int64_t>(blockIdx.x) * x_stride;
  T* out = y + static_cast<int64_t>(blockIdx.x) * length;
  const Acc n = static_cast<Acc>(length);

  Acc s = 0;
  rows::for_owned<T, kVec>(row, length, [&](int64_t, T v) { s = s + static_cast<Acc>(v); });
  const Acc mean = rows::block_sum(s, scratch) / n;

  Acc q = 0;
  rows::for_owned<T, kVec>(row, length, [&](int64_t, T v) {
    const Acc d = static_cast<Acc>(v) - mean;
    q = q + d * d;
  });
  const Acc var = rows::block_sum(q, scratch) / n;
  const Acc rstd = Acc(1) / sqrt(var + eps);

  rows::map_owned<T, T, kVec>(row, out, length, [&](int64_t i, T v) {
    Acc r = (static_cast<Acc>(v) - mean) * rstd;
    if (weight != nullptr) r = r * weight[i];
    if (bias != nullptr) r = r + bias[i];
    return static_cast<T>(r);
  });
  if (threadIdx.x == 0) {
    mean_out[blockIdx.x] = mean;
    rstd_out[blockIdx.x] = rstd;
  }
}

template <typename T, bool kVec>
__global__ void rms_norm_rows(const T* __restrict__ x, int64_t x_stride, const typename AccOf<T>::type* weight,
                              T* __restrict__ y, typename AccOf<T>::type* rstd_out, int64_t length,
                              typename AccOf<T>::type eps) {
  using Acc = typename AccOf<T>::type;
  __shared__ Acc scratch[32];
  const T* row = x + static_cast<int64_t>(blockIdx.x) * x_stride;
  T* out = y + static_cast<int64_t>(blockIdx.x) * length;

  Acc q = 0;
  rows::for_owned<T, kVec>(row, length, [&](int64_t, T v) {
    const Acc a = static_cast<Acc>(v);
    q = q + a * a;
  });
  const Acc rstd = Acc(1) / sqrt(rows::block_sum(q, scratch) / static_cast<Acc>(length) + eps);

  rows::map_owned<T, T, kVec>(row, out, length, [&](int64_t i, T v) {
    Acc r = static_cast<Acc>(v) * rstd;
    if (weight != nullptr) r = r * weight[i];
    return static_cast<T>(r);
  });
  if (threadIdx.x == 0) rstd_out[blockIdx.x] = rstd;
}

struct NormRows {
  at::Tensor rows;                 // [R, L], unit stride along L
  std::vector<int64_t> stat_shape;  // leading dims, then 1 per normalized dim
  at::ScalarType acc_type;
};

NormRows norm_rows(const at::Tensor& x, at::IntArrayRef normalized_shape, const char* name) {
  TORCH_CHECK(x.is_cuda(), name, ": expected a CUDA tensor");
  const at::ScalarType t = x.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kHalf || t == at::kBFloat16 || t == at::kDouble, name,
              ": unsupported dtype ", t);
  const int64_t nd = static_cast<int64_t>(normalized_shape.size());
  TORCH_CHECK(nd >= 1 && x.dim() >= nd, name, ": normalized_shape ", normalized_shape, " does not fit input ",
              x.sizes());
  const int64_t axis = x.dim() - nd;
  std::vector<int64_t> trailing;
  NormRows r;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < axis) {
      r.stat_shape.push_back(x.size(d));
    } else {
      TORCH_CHECK(x.size(d) == normalized_shape[static_cast<size_t>(d - axis)], name, ": normalized_shape ",
                  normalized_shape, " does not match input ", x.sizes());
      trailing.push_back(d);
      r.stat_shape.push_back(1);
    }
  }
  r.rows = rows::as_rows(x, trailing);
  r.acc_type = t == at::kDouble ? at::kDouble : at::kFloat;
  return r;
}

std::optional<at::Tensor> affine(const std::optional<at::Tensor>& p, int64_t length, at::ScalarType acc_type,
                                 const at::Tensor& x, const char* what) {
  if (!p.has_value() || !p->defined()) return std::nullopt;
  TORCH_CHECK(p->numel() == length, what, " has ", p->numel(), " elements, normalized size is ", length);
  TORCH_CHECK(p->device() == x.device(), what, " on ", p->device(), ", input on ", x.device());
  return p->reshape({length}).to(acc_type).contiguous();
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm(const at::Tensor& x, at::IntArrayRef normalized_shape,
                                                          const std::optional<at::Tensor>& weight,
                                                          const std::optional<at::Tensor>& bias, double eps) {
  const c10::cuda::CUDAGuard guard(x.device());
  const NormRows nr = norm_rows(x, normalized_shape, "layer_norm");
  const int64_t R = nr.rows.size(0), L = nr.rows.size(1);
  TORCH_CHECK(R <= 0x7fffffff, "layer_norm: too many rows");
  const std::optional<at::Tensor> w = affine(weight, L, nr.acc_type, x, "layer_norm weight");
  const std::optional<at::Tensor> b = affine(bias, L, nr.acc_type, x, "layer_norm bias");
  at::Tensor y = at::empty({R, L}, x.options());
  at::Tensor mean = at::empty({R}, x.options().dtype(nr.acc_type));
  at::Tensor rstd = at::empty({R}, x.options().dtype(nr.acc_type));
  if (R > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "layer_norm", [&] {
      using Acc = typename AccOf<scalar_t>::type;
      const int threads = rows::threads_for(L, rows::chunk_width<scalar_t>());
      const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
      const Acc* wp = w ? w->const_data_ptr<Acc>() : nullptr;
      const Acc* bp = b ? b->const_data_ptr<Acc>() : nullptr;
      auto run = [&](auto vec) {
        layer_norm_rows<scalar_t, decltype(vec)::value><<<static_cast<unsigned>(R), threads, 0, stream>>>(
            nr.rows.const_data_ptr<scalar_t>(), nr.rows.stride(0), wp, bp, y.data_ptr<scalar_t>(),
            mean.data_ptr<Acc>(), rstd.data_ptr<Acc>(), L, static_cast<Acc>(eps));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      };
      if (rows::can_vectorize(nr.rows)) {
        run(std::true_type{});
      } else {
        run(std::false_type{});
      }
    });
  }
  return {y.reshape(x.sizes()), mean.reshape(nr.stat_shape), rstd.reshape(nr.stat_shape)};
}

std::tuple<at::Tensor, at::Tensor> rms_norm(const at::Tensor& x, at::IntArrayRef normalized_shape,
                                            const std::optional<at::Tensor>& weight, std::optional<double> eps) {
  const c10::cuda::CUDAGuard guard(x.device());
  const NormRows nr = norm_rows(x, normalized_shape, "rms_norm");
  const int64_t R = nr.rows.size(0), L = nr.rows.size(1);
  TORCH_CHECK(R <= 0x7fffffff, "rms_norm: too many rows");
  const std::optional<at::Tensor> w = affine(weight, L, nr.acc_type, x, "rms_norm weight");
  at::Tensor y = at::empty({R, L}, x.options());
  at::Tensor rstd = at::empty({R}, x.options().dtype(nr.acc_type));
  if (R > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "rms_norm", [&] {
      using Acc = typename AccOf<scalar_t>::type;
      const Acc e = eps.has_value() ? static_cast<Acc>(*eps) : std::numeric_limits<Acc>::epsilon();
      const int threads = rows::threads_for(L, rows::chunk_width<scalar_t>());
      const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
      const Acc* wp = w ? w->const_data_ptr<Acc>() : nullptr;
      auto run = [&](auto vec) {
        rms_norm_rows<scalar_t, decltype(vec)::value><<<static_cast<unsigned>(R), threads, 0, stream>>>(
            nr.rows.const_data_ptr<scalar_t>(), nr.rows.stride(0), wp, y.data_ptr<scalar_t>(), rstd.data_ptr<Acc>(),
            L, e);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      };
      if (rows::can_vectorize(nr.rows)) {
        run(std::true_type{});
      } else {
        run(std::false_type{});
      }
    });
  }
  return {y.reshape(x.sizes()), rstd.reshape(nr.stat_shape)};
}

}  // namespace lockstep::kernels::cuda

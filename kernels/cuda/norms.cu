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
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <limits>
#include <type_traits>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/row_reduce.cuh"
#include "kernels/cuda/rows_layout.h"

namespace lockstep::kernels::cuda {
namespace {

template <typename T> struct TypeIs { using type = T; };
template <typename T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };

// W: the type weight and bias are read in (T or the accumulator type); each
// is converted to the accumulator type where it is used, exactly.
template <typename T, typename W, bool kVec>
__global__ void layer_norm_rows(const T* __restrict__ x, int64_t x_stride, const W* weight, const W* bias,
                                T* __restrict__ y,
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
    if (weight != nullptr) r = r * static_cast<Acc>(weight[i]);
    if (bias != nullptr) r = r + static_cast<Acc>(bias[i]);
    return static_cast<T>(r);
  });
  if (threadIdx.x == 0) {
    mean_out[blockIdx.x] = mean;
    rstd_out[blockIdx.x] = rstd;
  }
}

template <typename T, typename W, bool kVec>
__global__ void rms_norm_rows(const T* __restrict__ x, int64_t x_stride, const W* weight, T* __restrict__ y, typename AccOf<T>::type* rstd_out, int64_t length,
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
    if (weight != nullptr) r = r * static_cast<Acc>(weight[i]);
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

// Weight and bias as the kernels read them: in x's dtype and contiguous as
// given (no conversion kernel per call: it was most of a small call's time),
// otherwise both converted to the accumulator type once per call.
struct Affine {
  at::Tensor w, b;  // undefined when absent
  bool in_x_type = false;
};

Affine affine(const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias, int64_t length,
              at::ScalarType acc_type, const at::Tensor& x, const char* name) {
  auto given = [&](const std::optional<at::Tensor>& p, const char* what) {
    if (!p.has_value() || !p->defined()) return at::Tensor();
    TORCH_CHECK(p->numel() == length, name, " ", what, " has ", p->numel(), " elements, normalized size is ", length);
    TORCH_CHECK(p->device() == x.device(), name, " ", what, " on ", p->device(), ", input on ", x.device());
    return *p;
  };
  Affine a{given(weight, "weight"), given(bias, "bias")};
  auto as_is = [&](const at::Tensor& p) {
    return !p.defined() || (p.scalar_type() == x.scalar_type() && p.is_contiguous());
  };
  a.in_x_type = as_is(a.w) && as_is(a.b);
  auto to_acc = [&](const at::Tensor& p) { return p.defined() ? p.reshape({length}).to(acc_type).contiguous() : p; };
  if (!a.in_x_type) {
    a.w = to_acc(a.w);
    a.b = to_acc(a.b);
  }
  return a;
}

template <typename W>
const W* data_or_null(const at::Tensor& p) {
  return p.defined() ? static_cast<const W*>(p.const_data_ptr()) : nullptr;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm(const at::Tensor& x, at::IntArrayRef normalized_shape,
                                                          const std::optional<at::Tensor>& weight,
                                                          const std::optional<at::Tensor>& bias, double eps) {
  const c10::cuda::CUDAGuard guard(x.device());
  const NormRows nr = norm_rows(x, normalized_shape, "layer_norm");
  const int64_t R = nr.rows.size(0), L = nr.rows.size(1);
  TORCH_CHECK(R <= 0x7fffffff, "layer_norm: too many rows");
  const Affine wb = affine(weight, bias, L, nr.acc_type, x, "layer_norm");
  at::Tensor y = at::empty({R, L}, x.options());
  at::Tensor mean = at::empty({R}, x.options().dtype(nr.acc_type));
  at::Tensor rstd = at::empty({R}, x.options().dtype(nr.acc_type));
  if (R > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "layer_norm", [&] {
      using Acc = typename AccOf<scalar_t>::type;
      const int threads = rows::threads_for(L, rows::chunk_width<scalar_t>());
      const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
      auto launch = [&](auto vec, auto w_tag) {
        using W = typename decltype(w_tag)::type;
        layer_norm_rows<scalar_t, W, decltype(vec)::value><<<static_cast<unsigned>(R), threads, 0, stream>>>(
            nr.rows.const_data_ptr<scalar_t>(), nr.rows.stride(0), data_or_null<W>(wb.w), data_or_null<W>(wb.b),
            y.data_ptr<scalar_t>(), mean.data_ptr<Acc>(), rstd.data_ptr<Acc>(), L, static_cast<Acc>(eps));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      };
      auto run = [&](auto vec) {
        if (wb.in_x_type) {
          launch(vec, TypeIs<scalar_t>{});
        } else {
          launch(vec, TypeIs<Acc>{});
        }
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
  const Affine wb = affine(weight, std::nullopt, L, nr.acc_type, x, "rms_norm");
  at::Tensor y = at::empty({R, L}, x.options());
  at::Tensor rstd = at::empty({R}, x.options().dtype(nr.acc_type));
  if (R > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "rms_norm", [&] {
      using Acc = typename AccOf<scalar_t>::type;
      const Acc e = eps.has_value() ? static_cast<Acc>(*eps) : std::numeric_limits<Acc>::epsilon();
      const int threads = rows::threads_for(L, rows::chunk_width<scalar_t>());
      const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
      auto launch = [&](auto vec, auto w_tag) {
        using W = typename decltype(w_tag)::type;
        rms_norm_rows<scalar_t, W, decltype(vec)::value><<<static_cast<unsigned>(R), threads, 0, stream>>>(
            nr.rows.const_data_ptr<scalar_t>(), nr.rows.stride(0), data_or_null<W>(wb.w), y.data_ptr<scalar_t>(),
            rstd.data_ptr<Acc>(), L, e);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      };
      auto run = [&](auto vec) {
        if (wb.in_x_type) {
          launch(vec, TypeIs<scalar_t>{});
        } else {
          launch(vec, TypeIs<Acc>{});
        }
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

// Batch-invariant sum and mean over a set of dims (aten::sum.dim_IntList,
// aten::mean.dim). The reduced dims, flattened in their index order, form
// one row per kept index; each row is summed in THE ORDER of lanes.h, and
// mean = sum / n (one division). No dims (nullopt or []) reduces all.
#include <vector>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/rows.h"
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault_tensor.h"
#endif

namespace lockstep::kernels::cpu {
namespace {

using BF16 = c10::BFloat16;

template <class In, class Out>
LOCKSTEP_LANES_INLINE void sum_rows_body(const In* x, Out* y, int64_t rows, int64_t n, bool mean) {
  for (int64_t r = 0; r < rows; ++r) {
    float s = lanes::row_sum(x + r * n, n);
    if (mean) s = s / static_cast<float>(n);  // n == 0: 0 / 0 = NaN, as stock
    y[r] = Out(s);
  }
}

LOCKSTEP_LANES_DISPATCH(void, sum_f32, (const float* x, float* y, int64_t rows, int64_t n, bool mean),
                        (x, y, rows, n, mean), (sum_rows_body<float, float>(x, y, rows, n, mean)))
LOCKSTEP_LANES_DISPATCH(void, sum_bf16, (const BF16* x, BF16* y, int64_t rows, int64_t n, bool mean),
                        (x, y, rows, n, mean), (sum_rows_body<BF16, BF16>(x, y, rows, n, mean)))

at::Tensor reduce(const at::Tensor& input, at::OptionalIntArrayRef dims_arg, bool keepdim,
                  std::optional<at::ScalarType> dtype, bool mean) {
  const char* op = mean ? "mean" : "sum";
  rows::check_dtype(input, op);
  // aten casts the input to `dtype` before reducing; bf16 -> fp32 is exact.
  at::Tensor x = dtype && *dtype != input.scalar_type() ? input.to(*dtype) : input;
  rows::check_dtype(x, op);
  const int64_t ndim = x.dim();
  std::vector<bool> reduced(static_cast<size_t>(ndim), false);
  const bool all = !dims_arg.has_value() || dims_arg->empty();
  if (all) {
    reduced.assign(static_cast<size_t>(ndim), true);
  } else {
    for (int64_t d : *dims_arg) {
      const int64_t w = c10::maybe_wrap_dim(d, ndim);
      // a 0-dim tensor accepts dim 0 / -1 and has nothing to permute
      if (ndim == 0) continue;
      TORCH_CHECK(!reduced[static_cast<size_t>(w)], "lockstep ", op, ": dim ", d, " appears twice");
      reduced[static_cast<size_t>(w)] = true;
    }
  }
  // Kept dims first, reduced dims last (each group in index order), so
  // every row is one contiguous run; a no-op for dim = -1.
  std::vector<int64_t> perm, out_shape;
  int64_t n = 1;
  for (int64_t d = 0; d < ndim; ++d) {
    if (!reduced[static_cast<size_t>(d)]) {
      perm.push_back(d);
      out_shape.push_back(x.size(d));
    } else if (keepdim) {
      out_shape.push_back(1);
    }
  }
  for (int64_t d = 0; d < ndim; ++d) {
    if (reduced[static_cast<size_t>(d)]) {
      perm.push_back(d);
      n *= x.size(d);
    }
  }
#ifdef LOCKSTEP_FAULT_INJECTION
  if (fault::reverse_reduction(n == 0 ? 0 : x.numel() / n)) x = fault::reverse_dims(x, reduced);
#endif
  const at::Tensor xr = x.permute(perm).contiguous();
  at::Tensor y = at::empty(out_shape, x.options());
  const int64_t nrows = y.numel();
  rows::for_rows(nrows, n, [&](int64_t begin, int64_t end) {
    if (x.scalar_type() == at::kFloat)
      sum_f32(xr.data_ptr<float>() + begin * n, y.data_ptr<float>() + begin, end - begin, n, mean);
    else
      sum_bf16(xr.data_ptr<BF16>() + begin * n, y.data_ptr<BF16>() + begin, end - begin, n, mean);
  });
  return y;
}

}  // namespace

at::Tensor sum(const at::Tensor& x, at::OptionalIntArrayRef dims, bool keepdim,
               std::optional<at::ScalarType> dtype) {
  return reduce(x, dims, keepdim, dtype, /*mean=*/false);
}

at::Tensor mean(const at::Tensor& x, at::OptionalIntArrayRef dims, bool keepdim,
                std::optional<at::ScalarType> dtype) {
  return reduce(x, dims, keepdim, dtype, /*mean=*/true);
}

}  // namespace lockstep::kernels::cpu

// Batch-invariant layer_norm (aten::native_layer_norm) and RMS norm
// (aten::_fused_rms_norm). A row is the trailing normalized_shape; per row,
// in THE ORDER of lanes.h (fp32, outputs rounded once):
//   layer_norm: mean = sum(x) / n
//               var  = sum((x - mean)^2) / n       (two passes, fma per term)
//               rstd = 1 / sqrt(var + eps)
//               y    = ((x - mean) * rstd) * w + b
//   rms_norm:   rstd = 1 / sqrt(sum(x^2) / n + eps) (fma per term)
//               y    = (x * rstd) * w
// sqrt and / are correctly rounded, so they add no ISA dependence.
#include <limits>
#include <vector>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/rows.h"

namespace lockstep::kernels::cpu {
namespace {

using BF16 = c10::BFloat16;
using lanes::F16;
using lanes::kLanes;

// ((v - mean) * rstd) * w + b for the `count` elements at `at`; W is the
// parameters' dtype (float, or bf16 like the input: widened exactly).
template <class W>
LOCKSTEP_LANES_INLINE F16 affine(F16 v, float mean, float rstd, const W* w, const W* b, int64_t at,
                                 int64_t count) {
  F16 r = (v - mean) * rstd;
  if (w) r = r * (count == kLanes ? lanes::load16(w + at) : lanes::load_tail(w + at, count, 0.0f));
  if (b) r = r + (count == kLanes ? lanes::load16(b + at) : lanes::load_tail(b + at, count, 0.0f));
  return r;
}

// One row's statistics and output (nullptr w/b: absent); layer_norm when
// `center`, else rms_norm (mean fixed at 0).
template <class T, class W>
LOCKSTEP_LANES_INLINE void norm_row_body(const T* x, T* y, const W* w, const W* b, int64_t n, float eps,
                                         bool center, float* stats) {
  const float mean = center ? lanes::row_sum(x, n) / static_cast<float>(n) : 0.0f;
  const float ms = lanes::row_sum_sq(x, n, mean) / static_cast<float>(n);
  const float rstd = 1.0f / __builtin_sqrtf(ms + eps);
  stats[0] = mean;
  stats[1] = rstd;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    lanes::store16(y + i, affine(lanes::load16(x + i), mean, rstd, w, b, i, kLanes));
  if (i < n) lanes::store_tail(y + i, affine(lanes::load_tail(x + i, n - i, 0.0f), mean, rstd, w, b, i, n - i), n - i);
}

#define LOCKSTEP_NORM_VARIANT(NAME, T, W)                                                                   \
  LOCKSTEP_LANES_DISPATCH(void, NAME,                                                                     \
                          (const T* x, T* y, const W* w, const W* b, int64_t n, float eps, bool center,   \
                           float* stats),                                                                 \
                          (x, y, w, b, n, eps, center, stats), (norm_row_body<T, W>(x, y, w, b, n, eps, center, stats)))
LOCKSTEP_NORM_VARIANT(norm_f32, float, float)
LOCKSTEP_NORM_VARIANT(norm_bf16, BF16, BF16)
LOCKSTEP_NORM_VARIANT(norm_bf16_f32_params, BF16, float)
#undef LOCKSTEP_NORM_VARIANT

template <class S>
void store_stat(const at::Tensor& t, int64_t row, float v) {
  if (t.defined()) t.data_ptr<S>()[row] = S(v);
}

// Shared driver: checks shapes, runs rows in parallel, writes the outputs
// and the statistics (`mean` undefined for rms_norm) in their final dtype.
void run_norm(const at::Tensor& input, at::IntArrayRef normalized_shape, const std::optional<at::Tensor>& weight,
              const std::optional<at::Tensor>& bias, double eps, bool center, const char* op, const at::Tensor& out,
              const at::Tensor& mean, const at::Tensor& rstd) {
  const int64_t n = c10::multiply_integers(normalized_shape);
  const at::Tensor x = input.contiguous();
  // The kernels read fp32 parameters, or bf16 ones with a bf16 input.
  const bool defined_w = weight && weight->defined(), defined_b = bias && bias->defined();
  const bool bf16_params = x.scalar_type() == at::kBFloat16 &&
                           (!defined_w || weight->scalar_type() == at::kBFloat16) &&
                           (!defined_b || bias->scalar_type() == at::kBFloat16);
  const at::ScalarType param_type = bf16_params ? at::kBFloat16 : at::kFloat;
  auto param = [&](bool defined, const std::optional<at::Tensor>& p, const char* what) {
    if (!defined) return at::Tensor();
    rows::check_dtype(*p, op);
    TORCH_CHECK(p->numel() == n, "lockstep ", op, ": ", what, " has ", p->numel(), " elements, expected ", n);
    return p->to(param_type).contiguous();
  };
  const at::Tensor w = param(defined_w, weight, "weight"), b = param(defined_b, bias, "bias");
  const int64_t nrows = rstd.numel();
  const float e = static_cast<float>(eps);
  rows::for_rows(nrows, n, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      float stats[2] = {0.0f, __builtin_nanf("")};  // n == 0: stock gives mean 0, rstd NaN
      if (n == 0) {
      } else if (x.scalar_type() == at::kFloat) {
        norm_f32(x.data_ptr<float>() + row * n, out.data_ptr<float>() + row * n,
                 w.defined() ? w.data_ptr<float>() : nullptr, b.defined() ? b.data_ptr<float>() : nullptr, n, e,
                 center, stats);
      } else if (bf16_params) {
        norm_bf16(x.data_ptr<BF16>() + row * n, out.data_ptr<BF16>() + row * n,
                  w.defined() ? w.data_ptr<BF16>() : nullptr, b.defined() ? b.data_ptr<BF16>() : nullptr, n, e,
                  center, stats);
      } else {
        norm_bf16_f32_params(x.data_ptr<BF16>() + row * n, out.data_ptr<BF16>() + row * n,
                             w.defined() ? w.data_ptr<float>() : nullptr,
                             b.defined() ? b.data_ptr<float>() : nullptr, n, e, center, stats);
      }
      if (rstd.scalar_type() == at::kFloat) {
        store_stat<float>(mean, row, stats[0]);
        store_stat<float>(rstd, row, stats[1]);
      } else {
        store_stat<BF16>(mean, row, stats[0]);
        store_stat<BF16>(rstd, row, stats[1]);
      }
    }
  });
}

void check_shape(const at::Tensor& x, at::IntArrayRef normalized_shape, const char* op) {
  rows::check_dtype(x, op);
  const int64_t axis = x.dim() - static_cast<int64_t>(normalized_shape.size());
  TORCH_CHECK(axis >= 0 && x.sizes().slice(static_cast<size_t>(axis)).equals(normalized_shape), "lockstep ", op,
              ": normalized_shape ", normalized_shape, " must match the trailing dims of the input ", x.sizes());
}

// aten's statistics shape: the leading dims, then a 1 per normalized dim.
std::vector<int64_t> stat_shape(const at::Tensor& x, at::IntArrayRef normalized_shape) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - normalized_shape.size());
  shape.resize(static_cast<size_t>(x.dim()), 1);
  return shape;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm(const at::Tensor& x, at::IntArrayRef normalized_shape,
                                                          const std::optional<at::Tensor>& weight,
                                                          const std::optional<at::Tensor>& bias, double eps) {
  check_shape(x, normalized_shape, "layer_norm");
  // Stock CPU returns the statistics in the input dtype, except that a bf16
  // input with fp32 weight or bias ("mixed type") keeps them in fp32.
  const bool mixed = x.scalar_type() == at::kBFloat16 &&
                     ((weight && weight->defined() && weight->scalar_type() == at::kFloat) ||
                      (bias && bias->defined() && bias->scalar_type() == at::kFloat));
  const at::TensorOptions stat = x.options().dtype(mixed ? at::kFloat : x.scalar_type());
  const std::vector<int64_t> shape = stat_shape(x, normalized_shape);
  at::Tensor out = at::empty(x.sizes(), x.options()), mean = at::empty(shape, stat), rstd = at::empty(shape, stat);
  run_norm(x, normalized_shape, weight, bias, eps, /*center=*/true, "layer_norm", out, mean, rstd);
  return {out, mean, rstd};
}

std::tuple<at::Tensor, at::Tensor> rms_norm(const at::Tensor& x, at::IntArrayRef normalized_shape,
                                            const std::optional<at::Tensor>& weight, std::optional<double> eps) {
  check_shape(x, normalized_shape, "rms_norm");
  // aten's default eps is the epsilon of the compute type, fp32 for bf16 too.
  const double e = eps.value_or(static_cast<double>(std::numeric_limits<float>::epsilon()));
  // rstd stays fp32 (stock does the same for fp32 and bf16 inputs).
  at::Tensor out = at::empty(x.sizes(), x.options());
  at::Tensor rstd = at::empty(stat_shape(x, normalized_shape), x.options().dtype(at::kFloat));
  run_norm(x, normalized_shape, weight, std::nullopt, e, /*center=*/false, "rms_norm", out, at::Tensor(), rstd);
  return {out, rstd};
}

}  // namespace lockstep::kernels::cpu

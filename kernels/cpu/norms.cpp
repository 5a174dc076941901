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

// ((v - mean) * rstd) * w + b for the `count` elements at `at`.
LOCKSTEP_LANES_INLINE F16 affine(F16 v, float mean, float rstd, const float* w, const float* b, int64_t at,
                                 int64_t count) {
  F16 r = (v - mean) * rstd;
  if (w) r = r * (count == kLanes ? lanes::load16(w + at) : lanes::load_tail(w + at, count, 0.0f));
  if (b) r = r + (count == kLanes ? lanes::load16(b + at) : lanes::load_tail(b + at, count, 0.0f));
  return r;
}

// One row's statistics and output. `w`/`b` are fp32 copies (nullptr when
// absent); layer_norm when `center`, else rms_norm (mean fixed at 0).
template <class T>
LOCKSTEP_LANES_INLINE void norm_row_body(const T* x, T* y, const float* w, const float* b, int64_t n,
                                         float eps, bool center, float* mean_out, float* rstd_out) {
  const float mean = center ? lanes::row_sum(x, n) / static_cast<float>(n) : 0.0f;
  const float ms = lanes::row_sum_sq(x, n, mean) / static_cast<float>(n);
  const float rstd = 1.0f / __builtin_sqrtf(ms + eps);
  *mean_out = mean;
  *rstd_out = rstd;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    lanes::store16(y + i, affine(lanes::load16(x + i), mean, rstd, w, b, i, kLanes));
  if (i < n) lanes::store_tail(y + i, affine(lanes::load_tail(x + i, n - i, 0.0f), mean, rstd, w, b, i, n - i), n - i);
}

LOCKSTEP_LANES_DISPATCH(void, norm_f32,
                        (const float* x, float* y, const float* w, const float* b, int64_t n, float eps,
                         bool center, float* mean, float* rstd),
                        (x, y, w, b, n, eps, center, mean, rstd),
                        (norm_row_body<float>(x, y, w, b, n, eps, center, mean, rstd)))
LOCKSTEP_LANES_DISPATCH(void, norm_bf16,
                        (const BF16* x, BF16* y, const float* w, const float* b, int64_t n, float eps,
                         bool center, float* mean, float* rstd),
                        (x, y, w, b, n, eps, center, mean, rstd),
                        (norm_row_body<BF16>(x, y, w, b, n, eps, center, mean, rstd)))

struct NormResult {
  at::Tensor out, mean, rstd;  // mean/rstd fp32, shaped [rows]
};

// Shared driver: checks shapes, widens the affine parameters to fp32 once,
// and runs rows in parallel.
NormResult run_norm(const at::Tensor& input, at::IntArrayRef normalized_shape,
                    const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
                    double eps, bool center, const char* op) {
  rows::check_dtype(input, op);
  const int64_t axis = input.dim() - static_cast<int64_t>(normalized_shape.size());
  TORCH_CHECK(axis >= 0 && input.sizes().slice(static_cast<size_t>(axis)).equals(normalized_shape),
              "lockstep ", op, ": normalized_shape ", normalized_shape,
              " must match the trailing dims of the input ", input.sizes());
  const int64_t n = c10::multiply_integers(normalized_shape);
  auto widen = [&](const std::optional<at::Tensor>& p, const char* what) {
    if (!p || !p->defined()) return at::Tensor();
    rows::check_dtype(*p, op);
    TORCH_CHECK(p->numel() == n, "lockstep ", op, ": ", what, " has ", p->numel(), " elements, expected ",
                n);
    return p->to(at::kFloat).contiguous();
  };
  const at::Tensor w = widen(weight, "weight"), b = widen(bias, "bias");
  const at::Tensor x = input.contiguous();
  const int64_t nrows = c10::multiply_integers(input.sizes().slice(0, static_cast<size_t>(axis)));
  NormResult r{at::empty(x.sizes(), x.options()), at::empty({nrows}, x.options().dtype(at::kFloat)),
               at::empty({nrows}, x.options().dtype(at::kFloat))};
  const float* wp = w.defined() ? w.data_ptr<float>() : nullptr;
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  const float e = static_cast<float>(eps);
  float* mean = r.mean.data_ptr<float>();
  float* rstd = r.rstd.data_ptr<float>();
  rows::for_rows(nrows, n, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      if (n == 0) {  // stock: mean 0, rstd NaN (0 / 0 variance)
        mean[row] = 0.0f;
        rstd[row] = __builtin_nanf("");
      } else if (x.scalar_type() == at::kFloat) {
        norm_f32(x.data_ptr<float>() + row * n, r.out.data_ptr<float>() + row * n, wp, bp, n, e, center,
                 mean + row, rstd + row);
      } else {
        norm_bf16(x.data_ptr<BF16>() + row * n, r.out.data_ptr<BF16>() + row * n, wp, bp, n, e, center,
                  mean + row, rstd + row);
      }
    }
  });
  return r;
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
  NormResult r = run_norm(x, normalized_shape, weight, bias, eps, /*center=*/true, "layer_norm");
  // Stock CPU returns the statistics in the input dtype, except that a bf16
  // input with fp32 weight or bias ("mixed type") keeps them in fp32.
  const bool mixed = x.scalar_type() == at::kBFloat16 &&
                     ((weight && weight->defined() && weight->scalar_type() == at::kFloat) ||
                      (bias && bias->defined() && bias->scalar_type() == at::kFloat));
  const at::ScalarType stat_type = mixed ? at::kFloat : x.scalar_type();
  const std::vector<int64_t> shape = stat_shape(x, normalized_shape);
  return {r.out, r.mean.reshape(shape).to(stat_type), r.rstd.reshape(shape).to(stat_type)};
}

std::tuple<at::Tensor, at::Tensor> rms_norm(const at::Tensor& x, at::IntArrayRef normalized_shape,
                                            const std::optional<at::Tensor>& weight, std::optional<double> eps) {
  // aten's default eps is the epsilon of the compute type, fp32 for bf16 too.
  const double e = eps.value_or(static_cast<double>(std::numeric_limits<float>::epsilon()));
  NormResult r = run_norm(x, normalized_shape, weight, std::nullopt, e, /*center=*/false, "rms_norm");
  // rstd stays fp32 (stock does the same for fp32 and bf16 inputs).
  return {r.out, r.rstd.reshape(stat_shape(x, normalized_shape))};
}

}  // namespace lockstep::kernels::cpu

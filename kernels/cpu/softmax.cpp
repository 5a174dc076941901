// Batch-invariant softmax and log_softmax over one dim (aten::_softmax,
// aten::_log_softmax). Per row, in THE ORDER of lanes.h:
//   m = max(x)                      (exact, -0 as +0, so in any order; a NaN
//                                    element is skipped here and poisons
//                                    the sum instead)
//   s = sum of e_i = exp16(x_i - m)
//   softmax_i = e_i * (1 / s)       (a multiply: a division per element costs
//                                    more than the pass; 1.5 ulp at most)
//   log_softmax_i = (x_i - m) - log1(s)
// Rows with +inf, all -inf or a NaN come out all NaN, as stock does.
#include <vector>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/rows.h"

namespace lockstep::kernels::cpu {
namespace {

using lanes::F16;
using lanes::kLanes;

// `e` holds the row's exponentials between the two passes (fp32 even for
// bf16 outputs, so each output is rounded once); unused for log_softmax.
template <class In, class Out>
LOCKSTEP_LANES_INLINE void softmax_row_body(const In* x, Out* y, float* e, int64_t n, bool log) {
  const float neg_inf = -__builtin_inff();
  const float m = lanes::row_max(x, n);
  F16 acc = lanes::splat(0.0f);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    F16 v = lanes::exp16(lanes::load16(x + i) - m);
    if (!log) lanes::store16(e + i, v);
    acc += v;
  }
  if (i < n) {
    // padding -inf: exp(-inf - m) == +0 for any m but -inf (a NaN row anyway)
    F16 v = lanes::exp16(lanes::load_tail(x + i, n - i, neg_inf) - m);
    if (!log) lanes::store_tail(e + i, v, n - i);
    acc += v;
  }
  const float s = lanes::tree_sum(acc);
  if (log) {
    const float ls = lanes::log1(s);
    for (i = 0; i + kLanes <= n; i += kLanes) lanes::store16(y + i, (lanes::load16(x + i) - m) - ls);
    if (i < n) lanes::store_tail(y + i, (lanes::load_tail(x + i, n - i, 0.0f) - m) - ls, n - i);
  } else {
    const float inv = 1.0f / s;
    for (i = 0; i + kLanes <= n; i += kLanes) lanes::store16(y + i, lanes::load16(e + i) * inv);
    if (i < n) lanes::store_tail(y + i, lanes::load_tail(e + i, n - i, 1.0f) * inv, n - i);
  }
}

using BF16 = c10::BFloat16;
LOCKSTEP_LANES_DISPATCH(void, softmax_f32, (const float* x, float* y, float* e, int64_t n, bool log),
                        (x, y, e, n, log), (softmax_row_body<float, float>(x, y, e, n, log)))
LOCKSTEP_LANES_DISPATCH(void, softmax_bf16, (const BF16* x, BF16* y, float* e, int64_t n, bool log),
                        (x, y, e, n, log), (softmax_row_body<BF16, BF16>(x, y, e, n, log)))
LOCKSTEP_LANES_DISPATCH(void, softmax_bf16_to_f32, (const BF16* x, float* y, float* e, int64_t n, bool log),
                        (x, y, e, n, log), (softmax_row_body<BF16, float>(x, y, e, n, log)))

at::Tensor softmax_any(const at::Tensor& input, int64_t dim, bool half_to_float, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  rows::check_dtype(input, op);
  TORCH_CHECK(!half_to_float || input.scalar_type() == at::kBFloat16, "lockstep ", op,
              ": half_to_float needs a bfloat16 input, got ", input.scalar_type());
  // A 0-dim tensor is one row of one element.
  const at::Tensor x0 = input.dim() == 0 ? input.reshape({1}) : input;
  dim = c10::maybe_wrap_dim(dim, x0.dim());
  // Move the softmax dim last so that every row is contiguous; a no-op for
  // the usual dim = -1 on a contiguous tensor.
  const at::Tensor x = x0.movedim(dim, -1).contiguous();
  const at::ScalarType out_type = half_to_float ? at::kFloat : x.scalar_type();
  at::Tensor y = at::empty(x.sizes(), x.options().dtype(out_type));
  const int64_t n = x.size(-1);
  const int64_t nrows = n == 0 ? 0 : x.numel() / n;
  rows::for_rows(nrows, n, [&](int64_t begin, int64_t end) {
    const bool f32_out = out_type == at::kFloat;
    // fp32 outputs hold the exponentials themselves; bf16 ones need room.
    std::vector<float> scratch(f32_out ? 0 : n);
    for (int64_t r = begin; r < end; ++r) {
      if (x.scalar_type() == at::kFloat) {
        float* out = y.data_ptr<float>() + r * n;
        softmax_f32(x.data_ptr<float>() + r * n, out, out, n, log);
      } else if (f32_out) {
        float* out = y.data_ptr<float>() + r * n;
        softmax_bf16_to_f32(x.data_ptr<BF16>() + r * n, out, out, n, log);
      } else {
        softmax_bf16(x.data_ptr<BF16>() + r * n, y.data_ptr<BF16>() + r * n, scratch.data(), n, log);
      }
    }
  });
  at::Tensor result = y.movedim(-1, dim).contiguous();
  return input.dim() == 0 ? result.reshape({}) : result;
}

}  // namespace

at::Tensor softmax(const at::Tensor& x, int64_t dim, bool half_to_float) {
  return softmax_any(x, dim, half_to_float, /*log=*/false);
}

at::Tensor log_softmax(const at::Tensor& x, int64_t dim, bool half_to_float) {
  return softmax_any(x, dim, half_to_float, /*log=*/true);
}

}  // namespace lockstep::kernels::cpu

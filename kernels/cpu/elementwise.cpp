// Elementwise silu and sigmoid whose bits do not depend on an element's
// position.
//
// Why an elementwise op needs this at all: stock ATen on the CPU splits a
// tensor among threads at divup(numel, threads) boundaries, runs each chunk
// through its vector loop and finishes the chunk's last (n mod 2*16)
// elements with the SCALAR formula, which rounds differently from the
// vector one for silu, sigmoid, softplus, elu, mish and pow with a
// fractional exponent (measured: torch 2.11, 16 threads, fp32). Which
// elements land in a tail depends on numel, i.e. on the batch size, so a
// request's activations change with the batch once a machine has more than
// 2 threads (on 2 the chunks stay 32-aligned) — tests/kernels/
// elementwise_test.cpp shows it.
//
// Here every element, tails included, goes through one F16 body (tails are
// padded into a full vector), built from IEEE per-lane operations and
// lanes::exp16, so the value depends on the input value only: not on the
// position, the thread split or the ISA variant.
#include <ATen/Parallel.h>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/ops.h"

namespace lockstep::kernels::cpu {
namespace {

using lanes::F16;
using BF16 = c10::BFloat16;

enum class Unary { silu, sigmoid };

template <Unary U>
LOCKSTEP_LANES_INLINE F16 apply(F16 x) {
  const F16 one = lanes::splat(1.0f);
  const F16 denominator = one + lanes::exp16(-x);  // exp16(+large) = inf gives 0 below
  if constexpr (U == Unary::silu) {
    return x / denominator;
  } else {
    return one / denominator;
  }
}

template <Unary U, class T>
LOCKSTEP_LANES_INLINE int run_span(const T* x, T* y, int64_t n) {
  int64_t i = 0;
  for (; i + lanes::kLanes <= n; i += lanes::kLanes) lanes::store16(y + i, apply<U>(lanes::load16(x + i)));
  if (i < n) lanes::store_tail(y + i, apply<U>(lanes::load_tail(x + i, n - i, 0.0f)), n - i);
  return 0;
}

#define LOCKSTEP_UNARY_VARIANT(NAME, U, T) \
  LOCKSTEP_LANES_DISPATCH(int, NAME, (const T* x, T* y, int64_t n), (x, y, n), (run_span<U, T>(x, y, n)))
LOCKSTEP_UNARY_VARIANT(silu_f32, Unary::silu, float)
LOCKSTEP_UNARY_VARIANT(silu_bf16, Unary::silu, BF16)
LOCKSTEP_UNARY_VARIANT(sigmoid_f32, Unary::sigmoid, float)
LOCKSTEP_UNARY_VARIANT(sigmoid_bf16, Unary::sigmoid, BF16)
#undef LOCKSTEP_UNARY_VARIANT

// Chunks of 16 * 1024 elements: any split gives the same bits, this one
// only keeps the pool busy.
constexpr int64_t kGrain = int64_t{16} * 1024;

template <class T>
void run(const at::Tensor& input, const at::Tensor& out, int (*span)(const T*, T*, int64_t)) {
  const T* x = input.const_data_ptr<T>();
  T* y = out.mutable_data_ptr<T>();
  at::parallel_for(0, input.numel(), kGrain, [&](int64_t begin, int64_t end) { span(x + begin, y + begin, end - begin); });
}

at::Tensor unary(const at::Tensor& input_in, Unary u, const char* op) {
  TORCH_CHECK(input_in.device().is_cpu(), "lockstep ", op, ": expected a CPU tensor");
  const at::ScalarType t = input_in.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kBFloat16, "lockstep ", op, ": float32 or bfloat16 only, got ", t);
  const at::Tensor input = input_in.contiguous();
  at::Tensor out = at::empty_like(input);
  if (t == at::kFloat) {
    run<float>(input, out, u == Unary::silu ? silu_f32 : sigmoid_f32);
  } else {
    run<BF16>(input, out, u == Unary::silu ? silu_bf16 : sigmoid_bf16);
  }
  return out;
}

}  // namespace

at::Tensor silu(const at::Tensor& x) { return unary(x, Unary::silu, "silu"); }
at::Tensor sigmoid(const at::Tensor& x) { return unary(x, Unary::sigmoid, "sigmoid"); }

}  // namespace lockstep::kernels::cpu

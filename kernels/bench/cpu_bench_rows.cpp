// CPU row kernels and attention: lockstep's batch-invariant versions next to
// the stock libtorch kernels, SmolLM2-135M shapes (hidden 576, vocabulary
// 49152, 9 query / 3 kv heads of 64), same thread count. Linked into
// lockstep_bench_cpu (cpu_bench.cpp has main); registered at static init.
//
//   build-k2/kernels/lockstep_bench_cpu --benchmark_filter='^(rows|attn)_'
//
// Counters: bytes_per_second = bytes read + written once (the floor for
// these memory-bound ops); attention also reports FLOPS (4 Hq Tq Tk D,
// halved for causal prefill).
#include <ATen/ATen.h>
#include <ATen/ops/_log_softmax_cpu_dispatch.h>
#include <ATen/ops/_softmax_cpu_dispatch.h>
#include <ATen/ops/native_layer_norm_cpu_dispatch.h>
#include <ATen/ops/sum_cpu_dispatch.h>
#include <benchmark/benchmark.h>

#include <string>

#include "kernels/cpu/ops.h"
#include "kernels/mode.h"

namespace {

namespace ours = lockstep::kernels::cpu;
using lockstep::kernels::Mode;
using lockstep::kernels::ModeGuard;

enum class Impl { ours, stock };
enum class RowOp { softmax, log_softmax, sum, layer_norm, rms_norm };

const char* dtype_name(at::ScalarType dt) { return dt == at::kFloat ? "f32" : "bf16"; }

void run_rows(benchmark::State& state, RowOp op, Impl impl, at::ScalarType dt, int64_t m, int64_t n) {
  ModeGuard stock(Mode::off);  // stock means stock, whatever register.cpp routes
  at::manual_seed(0);
  const at::Tensor x = at::randn({m, n}).to(dt);
  const at::Tensor w = at::randn({n}).to(dt), b = at::randn({n}).to(dt);
  const bool mine = impl == Impl::ours;
  for (auto _ : state) {
    at::Tensor y;
    switch (op) {
      case RowOp::softmax: y = mine ? ours::softmax(x, -1, false) : at::cpu::_softmax(x, -1, false); break;
      case RowOp::log_softmax: y = mine ? ours::log_softmax(x, -1, false) : at::cpu::_log_softmax(x, -1, false); break;
      case RowOp::sum: y = mine ? ours::sum(x, at::IntArrayRef{-1}, false, std::nullopt) : at::cpu::sum(x, -1); break;
      case RowOp::layer_norm:
        y = std::get<0>(mine ? ours::layer_norm(x, {n}, w, b, 1e-5) : at::cpu::native_layer_norm(x, {n}, w, b, 1e-5));
        break;
      case RowOp::rms_norm:
        y = std::get<0>(mine ? ours::rms_norm(x, {n}, w, 1e-5) : at::_fused_rms_norm(x, {n}, w, 1e-5));
        break;
    }
    benchmark::DoNotOptimize(y.data_ptr());
  }
  const int64_t out = op == RowOp::sum ? m : m * n;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * (m * n + out) * x.element_size());
}

// q [1, 9, Tq, 64], k/v [1, 3, Tk, 64]: decode (Tq = 1) or causal prefill.
void run_attention(benchmark::State& state, Impl impl, at::ScalarType dt, int64_t tq, int64_t tk) {
  ModeGuard stock(Mode::off);
  const int64_t hq = 9, hkv = 3, d = 64;
  const bool causal = tq > 1;
  at::manual_seed(0);
  const at::Tensor q = at::randn({1, hq, tq, d}).to(dt);
  const at::Tensor k = at::randn({1, hkv, tk, d}).to(dt), v = at::randn({1, hkv, tk, d}).to(dt);
  for (auto _ : state) {
    const at::Tensor y = impl == Impl::ours
                             ? ours::sdpa(q, k, v, std::nullopt, causal, std::nullopt, true)
                             : at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal, std::nullopt, true);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  const double pairs = causal ? 0.5 * tq * (tk + 1) : static_cast<double>(tq) * tk;
  state.counters["FLOPS"] = benchmark::Counter(4.0 * hq * d * pairs, benchmark::Counter::kIsIterationInvariantRate);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * (2 * hq * tq * d + 2 * hkv * tk * d) *
                          q.element_size());
}

void register_row_benchmarks() {
  struct Shape {
    RowOp op;
    const char* name;
    int64_t m, n;
  };
  // norms and sums over the hidden size; softmax over the vocabulary (the
  // sampler's logits) for one token and a batch of 16.
  const Shape shapes[] = {
      {RowOp::rms_norm, "rms_norm", 1, 576},    {RowOp::rms_norm, "rms_norm", 64, 576},
      {RowOp::rms_norm, "rms_norm", 512, 576},  {RowOp::layer_norm, "layer_norm", 1, 576},
      {RowOp::layer_norm, "layer_norm", 64, 576}, {RowOp::layer_norm, "layer_norm", 512, 576},
      {RowOp::sum, "sum", 64, 576},             {RowOp::sum, "sum", 512, 576},
      {RowOp::softmax, "softmax", 1, 49152},    {RowOp::softmax, "softmax", 16, 49152},
      {RowOp::log_softmax, "log_softmax", 1, 49152}, {RowOp::log_softmax, "log_softmax", 16, 49152},
  };
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16})
    for (const Shape& s : shapes)
      for (Impl impl : {Impl::ours, Impl::stock}) {
        const std::string name = std::string("rows_") + dtype_name(dt) + "/" + s.name + "/M" + std::to_string(s.m) +
                                 "_N" + std::to_string(s.n) + (impl == Impl::ours ? "/ours" : "/stock");
        benchmark::RegisterBenchmark(name.c_str(), run_rows, s.op, impl, dt, s.m, s.n)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
  struct Attn {
    const char* kind;
    int64_t tq, tk;
  };
  const Attn attns[] = {{"decode", 1, 128}, {"decode", 1, 1024}, {"decode", 1, 4096},
                        {"prefill", 128, 128}, {"prefill", 512, 512}, {"prefill", 2048, 2048},
                        {"prefill", 8192, 8192}};
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16})
    for (const Attn& a : attns)
      for (Impl impl : {Impl::ours, Impl::stock}) {
        const std::string name = std::string("attn_") + dtype_name(dt) + "/" + a.kind + "/Tq" + std::to_string(a.tq) +
                                 "_Tk" + std::to_string(a.tk) + (impl == Impl::ours ? "/ours" : "/stock");
        benchmark::RegisterBenchmark(name.c_str(), run_attention, impl, dt, a.tq, a.tk)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
}

const bool registered = (register_row_benchmarks(), true);

}  // namespace

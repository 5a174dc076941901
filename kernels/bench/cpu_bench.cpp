// CPU kernel benchmarks: lockstep's batch-invariant kernels next to the
// stock libtorch kernels they replace, same shapes, same thread count.
// Results and the exact command live in kernels/PERF.md.
//
//   build-k1/kernels/lockstep_bench_cpu --benchmark_filter=mm_
//       (kernels/PERF.md has the full command line used for its tables)
//
// Counters: FLOPS = 2*M*N*K per call (shown as G/s), and bytes_per_second =
// the operands read plus the output written once (the memory-bound floor
// for M = 1, where W dominates).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ops/mm_cpu_dispatch.h>
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "kernels/cpu/ops.h"

namespace {

// ---------------------------------------------------------------------------
// GEMM: x[M, K] @ W[N, K]^T, the layout of at::linear (W passed as W.t()).
// SmolLM2-135M projections: q/o (576 -> 576), k/v (576 -> 192), gate/up
// (576 -> 1536), down (1536 -> 576) and the lm head (576 -> 49152).
// ---------------------------------------------------------------------------

struct Projection {
  const char* name;
  int64_t N, K;
};

constexpr Projection kProjections[] = {
    {"q_o", 576, 576}, {"k_v", 192, 576}, {"gate_up", 1536, 576}, {"down", 576, 1536}, {"lm_head", 49152, 576},
};
constexpr int64_t kBatchSizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

enum class Impl { ours, stock };

void run_mm(benchmark::State& state, Impl impl, at::ScalarType dtype, int64_t M, int64_t N, int64_t K) {
  at::manual_seed(0);
  const at::Tensor x = at::randn({M, K}).to(dtype);
  const at::Tensor w = at::randn({N, K}).to(dtype);
  const at::Tensor wt = w.t();
  for (auto _ : state) {
    at::Tensor y = impl == Impl::ours ? lockstep::kernels::cpu::mm(x, wt) : at::cpu::mm(x, wt);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  const double elem = static_cast<double>(c10::elementSize(dtype));
  state.counters["FLOPS"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * elem * (M * K + N * K + M * N)));
}

void register_gemm_benchmarks() {
  struct DtypeName {
    at::ScalarType dtype;
    const char* name;
  };
  for (const DtypeName d : {DtypeName{at::kFloat, "f32"}, DtypeName{at::kBFloat16, "bf16"}}) {
    for (const Projection& p : kProjections) {
      for (int64_t M : kBatchSizes) {
        for (Impl impl : {Impl::ours, Impl::stock}) {
          const std::string name = std::string("mm_") + d.name + "/" + p.name + "_N" + std::to_string(p.N) + "_K" +
                                   std::to_string(p.K) + "/M" + std::to_string(M) +
                                   (impl == Impl::ours ? "/ours" : "/stock");
          benchmark::RegisterBenchmark(name.c_str(), run_mm, impl, d.dtype, M, p.N, p.K)
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
        }
      }
    }
  }
}

// A decode step's GEMMs with cold weights: the 30 layers of SmolLM2-135M
// (fused q/k/v 960 x 576, o 576 x 576, fused gate/up 3072 x 576, down
// 576 x 1536; 425 MB of fp32, far past the L3), each layer its own weights,
// as the engine streams them every step. The hot-weight rows above say what
// the micro-kernel can do; these say how well a step overlaps the weight
// stream with its FMAs (decode at batch 32 is bound by both).
void run_decode_step(benchmark::State& state, Impl impl, int64_t M) {
  struct Layer {
    int64_t N, K;
  };
  static constexpr Layer kLayer[] = {{960, 576}, {576, 576}, {3072, 576}, {576, 1536}};
  static const std::vector<at::Tensor> weights = [] {
    at::manual_seed(0);
    std::vector<at::Tensor> w;
    for (int layer = 0; layer < 30; ++layer)
      for (const Layer& l : kLayer) w.push_back(at::randn({l.N, l.K}));
    return w;
  }();
  at::manual_seed(1);
  std::vector<at::Tensor> xs;
  for (const Layer& l : kLayer) xs.push_back(at::randn({M, l.K}));
  double flops = 0;
  for (size_t i = 0; i < weights.size(); ++i) flops += 2.0 * M * weights[i].size(0) * weights[i].size(1);
  for (auto _ : state) {
    for (size_t i = 0; i < weights.size(); ++i) {
      const at::Tensor& x = xs[i % 4];
      at::Tensor y = impl == Impl::ours ? lockstep::kernels::cpu::mm(x, weights[i].t()) : at::cpu::mm(x, weights[i].t());
      benchmark::DoNotOptimize(y.data_ptr());
    }
  }
  state.counters["FLOPS"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

void register_decode_step_benchmarks() {
  for (int64_t M : {1, 8, 16, 32, 64})
    for (Impl impl : {Impl::ours, Impl::stock}) {
      const std::string name = "mm_f32/decode_step_cold/M" + std::to_string(M) + (impl == Impl::ours ? "/ours" : "/stock");
      benchmark::RegisterBenchmark(name.c_str(), run_decode_step, impl, M)->Unit(benchmark::kMillisecond)->UseRealTime();
    }
}

// Norms, softmax, sum and attention live in cpu_bench_rows.cpp, registered
// at static initialisation; main() below runs them all.

}  // namespace

int main(int argc, char** argv) {
  register_gemm_benchmarks();
  register_decode_step_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("intra_op_threads", std::to_string(at::get_num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

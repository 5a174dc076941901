// Portable mode's CPU fp32 GEMM (kernels/portable/cpu.cpp: every output one sequential fma chain
// over k, AVX2 + FMA) next to libtorch's stock fp32 mm (MKL in the pip wheel), nn.Linear's layout
// (x [M, K] @ W[N, K]^T), the shapes of kernels/PERF.md's portable table. Linked into
// lockstep_bench_cpu (cpu_bench.cpp has main); registered at static init.
//
//   OMP_NUM_THREADS=2 build-k2/kernels/lockstep_bench_cpu --benchmark_filter='^mm_portable_f32/'
//       --benchmark_repetitions=3 --benchmark_report_aggregates_only=true   (one command line)
//
// Counters: FLOPS = 2*M*N*K per call (shown as G/s).
#include <ATen/ATen.h>
#include <ATen/ops/mm_cpu_dispatch.h>
#include <benchmark/benchmark.h>

#include <string>

#include "kernels/portable/ops.h"

namespace {

void run_portable_mm(benchmark::State& state, bool portable, int64_t M, int64_t N, int64_t K) {
  at::manual_seed(0);
  const at::Tensor x = at::randn({M, K});
  const at::Tensor wt = at::randn({N, K}).t();
  for (auto _ : state) {
    at::Tensor y = portable ? lockstep::kernels::portable::cpu::mm(x, wt) : at::cpu::mm(x, wt);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate);
}

bool register_portable_mm() {
  struct Shape {
    const char* name;
    int64_t N, K;
  };
  for (const Shape& s : {Shape{"smollm2_q_o", 576, 576}, Shape{"smollm2_k_v", 192, 576}, Shape{"smollm2_gate_up", 1536, 576},
                         Shape{"smollm2_down", 576, 1536}, Shape{"smollm2_lm_head", 49152, 576},
                         Shape{"llama3_8b_q_o", 4096, 4096}, Shape{"llama3_8b_gate_up", 14336, 4096}}) {
    for (int64_t M : {1, 32, 256, 1024}) {
      for (bool portable : {true, false}) {
        const std::string name = std::string("mm_portable_f32/") + s.name + "/N=" + std::to_string(s.N) +
                                 "/K=" + std::to_string(s.K) + "/M=" + std::to_string(M) +
                                 (portable ? "/portable" : "/stock");
        benchmark::RegisterBenchmark(name.c_str(), run_portable_mm, portable, M, s.N, s.K)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
  for (bool portable : {true, false}) {
    benchmark::RegisterBenchmark(portable ? "mm_portable_f32/square/N=4096/K=4096/M=4096/portable"
                                          : "mm_portable_f32/square/N=4096/K=4096/M=4096/stock",
                                 run_portable_mm, portable, 4096, 4096, 4096)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return true;
}

const bool registered = register_portable_mm();

}  // namespace

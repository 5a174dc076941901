// Side-by-side timings on the lent GPU: lockstep's invariant CUDA kernels
// ("ours") against stock libtorch ("stock": cuBLAS with its per-M choice,
// stock SDPA, stock norms). Every benchmark times with CUDA events around a
// burst of calls after a warm-up, rotates among enough input copies that the
// operands do not sit in L2 (50 MB on H100), and reports the napkin numbers:
// TFLOP/s for GEMM and prefill, GB/s of compulsory traffic for decode and
// norms. ci/gpu-bench.sh turns the JSON output into kernels/PERF.md's table.
//
//   lockstep_bench_cuda --benchmark_filter=gemm --benchmark_out=bench.json --benchmark_out_format=json
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <benchmark/benchmark.h>
#include <c10/cuda/CUDAException.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/cuda/attention_mma.h"
#include "kernels/cuda/cublaslt_pinned.h"
#include "kernels/cuda/ops.h"
#include "kernels/portable/cuda_gemm.h"
#include "kernels/portable/ops.h"

namespace {

namespace ours = lockstep::kernels::cuda;

constexpr int kBurst = 10;                      // calls between two events
constexpr int64_t kRotateBytes = int64_t{200} << 20;  // > 2x L2 of an H100 / H200

at::TensorOptions cuda_opts(at::ScalarType t) { return at::TensorOptions().device(at::kCUDA).dtype(t); }

int rotations_for(int64_t bytes_per_set) {
  return static_cast<int>(std::clamp<int64_t>((kRotateBytes + bytes_per_set - 1) / std::max<int64_t>(bytes_per_set, 1),
                                              1, 16));
}

// Per-call seconds of op(set) with the sets used round robin (GPU time
// between two events), and the host's time to issue a call ("host_us", wall
// clock around the burst's launches: where it is near the per-call time, the
// op is bound by its host path, not by the GPU).
void time_calls(benchmark::State& state, int sets, const std::function<void(int)>& op) {
  cudaEvent_t start = nullptr, stop = nullptr;
  C10_CUDA_CHECK(cudaEventCreate(&start));
  C10_CUDA_CHECK(cudaEventCreate(&stop));
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  int next = 0;
  for (int i = 0; i < 3 * std::max(sets, 2); ++i) op(next++ % sets);  // warm-up: plans, handles, caches
  C10_CUDA_CHECK(cudaStreamSynchronize(stream));
  double host_s = 0.0;
  for (auto _ : state) {
    C10_CUDA_CHECK(cudaEventRecord(start, stream));
    const auto issue = std::chrono::steady_clock::now();
    for (int i = 0; i < kBurst; ++i) op(next++ % sets);
    host_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - issue).count();
    C10_CUDA_CHECK(cudaEventRecord(stop, stream));
    C10_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    C10_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(static_cast<double>(ms) / 1e3 / kBurst);
  }
  state.counters["host_us"] = host_s * 1e6 / static_cast<double>(std::max<int64_t>(state.iterations(), 1) * kBurst);
  C10_CUDA_CHECK(cudaEventDestroy(start));
  C10_CUDA_CHECK(cudaEventDestroy(stop));
}

// Rates as counters: value / per-call time.
void set_rates(benchmark::State& state, double flops, double bytes) {
  if (flops > 0) state.counters["TFLOP/s"] = benchmark::Counter(flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
  if (bytes > 0) state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

struct GemmShape {
  const char* model;
  const char* name;
  int64_t n, k;
};

const std::vector<GemmShape> kGemmShapes = {
    {"smollm2_135m", "q_o", 576, 576},        {"smollm2_135m", "k_v", 192, 576},
    {"smollm2_135m", "gate_up", 1536, 576},   {"smollm2_135m", "down", 576, 1536},
    {"smollm2_135m", "lm_head", 49152, 576},  {"llama3_8b", "q_o", 4096, 4096},
    {"llama3_8b", "k_v", 1024, 4096},         {"llama3_8b", "gate_up", 14336, 4096},
    {"llama3_8b", "down", 4096, 14336},       {"llama3_8b", "lm_head", 128256, 4096},
};
const std::vector<int64_t> kGemmMs = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

void bench_gemm(benchmark::State& state, GemmShape shape, int64_t m, bool invariant) {
  const int64_t w_bytes = shape.n * shape.k * 2, a_bytes = m * shape.k * 2;
  const int sets = rotations_for(w_bytes + a_bytes);
  std::vector<at::Tensor> ws, as;
  for (int i = 0; i < sets; ++i) {
    ws.push_back(at::randn({shape.n, shape.k}, cuda_opts(at::kBFloat16)));  // nn.Linear weight [N, K]
    as.push_back(at::randn({m, shape.k}, cuda_opts(at::kBFloat16)));
  }
  time_calls(state, sets, [&](int i) {
    const at::Tensor b = ws[static_cast<size_t>(i)].t();
    if (invariant) {
      (void)ours::mm(as[static_cast<size_t>(i)], b);
    } else {
      (void)at::mm(as[static_cast<size_t>(i)], b);
    }
  });
  set_rates(state, 2.0 * static_cast<double>(m) * shape.n * shape.k,
            static_cast<double>(w_bytes + a_bytes + m * shape.n * 2));
}

constexpr int64_t kHeads = 32, kHeadDim = 128, kDecodeKeys = 4000;

void bench_decode(benchmark::State& state, int64_t batch, bool invariant) {
  const int64_t kv_bytes = 2 * batch * kHeads * kDecodeKeys * kHeadDim * 2;
  const int sets = std::min(rotations_for(kv_bytes), 4);
  std::vector<at::Tensor> qs, ks, vs;
  for (int i = 0; i < sets; ++i) {
    qs.push_back(at::randn({batch, kHeads, 1, kHeadDim}, cuda_opts(at::kBFloat16)));
    ks.push_back(at::randn({batch, kHeads, kDecodeKeys, kHeadDim}, cuda_opts(at::kBFloat16)));
    vs.push_back(at::randn({batch, kHeads, kDecodeKeys, kHeadDim}, cuda_opts(at::kBFloat16)));
  }
  time_calls(state, sets, [&](int i) {
    const size_t s = static_cast<size_t>(i);
    if (invariant) {
      (void)ours::sdpa(qs[s], ks[s], vs[s], std::nullopt, false, std::nullopt, false);
    } else {
      (void)at::scaled_dot_product_attention(qs[s], ks[s], vs[s]);
    }
  });
  set_rates(state, 4.0 * batch * kHeads * kDecodeKeys * kHeadDim, static_cast<double>(kv_bytes));
}

void bench_prefill(benchmark::State& state, int64_t tokens, bool invariant) {
  const at::Tensor q = at::randn({1, kHeads, tokens, kHeadDim}, cuda_opts(at::kBFloat16));
  const at::Tensor k = at::randn({1, kHeads, tokens, kHeadDim}, cuda_opts(at::kBFloat16));
  const at::Tensor v = at::randn({1, kHeads, tokens, kHeadDim}, cuda_opts(at::kBFloat16));
  time_calls(state, 1, [&](int) {
    if (invariant) {
      (void)ours::sdpa(q, k, v, std::nullopt, true, std::nullopt, false);
    } else {
      (void)at::scaled_dot_product_attention(q, k, v, std::nullopt, 0.0, true);
    }
  });
  // Causal: half of the Tq x Tk scores, 2 flops per multiply-add, QK and PV.
  set_rates(state, 2.0 * kHeads * tokens * tokens * kHeadDim, 0.0);
}

// The tensor-core attention (LOCKSTEP_ATTENTION_MMA, kernels/cuda/attention_mma.cuh) against
// the CUDA-core kernel it would replace and stock SDPA (flash attention for these shapes), with
// the switch set for the run whatever the environment says.
enum class AttnImpl { mma, old, stock };

const char* attn_impl_name(AttnImpl i) {
  return i == AttnImpl::mma ? "ours_mma" : i == AttnImpl::old ? "ours_old" : "stock";
}

void attn_call(AttnImpl impl, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
  const bool gqa = q.size(1) != k.size(1);
  if (impl == AttnImpl::stock) {
    (void)at::scaled_dot_product_attention(q, k, v, std::nullopt, 0.0, causal, std::nullopt, gqa);
  } else {
    (void)ours::sdpa(q, k, v, std::nullopt, causal, std::nullopt, gqa);
  }
}

// Causal prefill of `batch` prompts of `tokens` tokens, bf16.
void bench_mma_prefill(benchmark::State& state, int64_t batch, int64_t hq, int64_t hkv, int64_t d, int64_t tokens,
                       AttnImpl impl) {
  const at::Tensor q = at::randn({batch, hq, tokens, d}, cuda_opts(at::kBFloat16));
  const at::Tensor k = at::randn({batch, hkv, tokens, d}, cuda_opts(at::kBFloat16));
  const at::Tensor v = at::randn({batch, hkv, tokens, d}, cuda_opts(at::kBFloat16));
  std::optional<ours::AttentionMmaOverride> sw;
  if (impl != AttnImpl::stock) sw.emplace(impl == AttnImpl::mma);
  time_calls(state, 1, [&](int) { attn_call(impl, q, k, v, true); });
  // Causal: half of the Tq x Tk scores, 2 flops per multiply-add, QK and PV.
  set_rates(state, 2.0 * static_cast<double>(batch * hq * d) * static_cast<double>(tokens * tokens), 0.0);
}

// One query per sequence against `keys` cached keys, bf16 (GB/s: K and V once).
void bench_mma_decode(benchmark::State& state, int64_t batch, int64_t hq, int64_t hkv, int64_t d, int64_t keys,
                      AttnImpl impl) {
  const int64_t kv_bytes = 2 * batch * hkv * keys * d * 2;
  const int sets = std::min(rotations_for(kv_bytes), 4);
  std::vector<at::Tensor> qs, ks, vs;
  for (int i = 0; i < sets; ++i) {
    qs.push_back(at::randn({batch, hq, 1, d}, cuda_opts(at::kBFloat16)));
    ks.push_back(at::randn({batch, hkv, keys, d}, cuda_opts(at::kBFloat16)));
    vs.push_back(at::randn({batch, hkv, keys, d}, cuda_opts(at::kBFloat16)));
  }
  std::optional<ours::AttentionMmaOverride> sw;
  if (impl != AttnImpl::stock) sw.emplace(impl == AttnImpl::mma);
  time_calls(state, sets, [&](int i) {
    const size_t s = static_cast<size_t>(i);
    attn_call(impl, qs[s], ks[s], vs[s], false);
  });
  set_rates(state, 4.0 * static_cast<double>(batch * hq * keys * d), static_cast<double>(kv_bytes));
}

void timed(benchmark::internal::Benchmark* b);

void register_mma_attention() {
  struct Heads {
    int64_t hq, hkv, d;
  };
  const Heads heads[] = {{32, 32, 128}, {32, 32, 64}, {32, 8, 128}};
  const AttnImpl impls[] = {AttnImpl::mma, AttnImpl::old, AttnImpl::stock};
  for (const Heads& h : heads) {
    for (int64_t t : {512, 2048, 8192}) {
      for (int64_t b : {1, 16}) {
        // Keep a case under ~1 s (>= 16 calls): the CUDA-core kernel runs ~10 TFLOP/s.
        const double flops = 2.0 * static_cast<double>(b * h.hq * h.d) * static_cast<double>(t * t);
        for (AttnImpl impl : impls) {
          if (flops > (impl == AttnImpl::old ? 6e11 : 1e13)) continue;
          const std::string name = "mma_attn_prefill_bf16/H=" + std::to_string(h.hq) + "/KV=" + std::to_string(h.hkv) +
                                   "/D=" + std::to_string(h.d) + "/causal/T=" + std::to_string(t) +
                                   "/B=" + std::to_string(b) + "/" + attn_impl_name(impl);
          timed(benchmark::RegisterBenchmark(name.c_str(), bench_mma_prefill, b, h.hq, h.hkv, h.d, t, impl));
        }
      }
    }
  }
  for (const Heads& h : {heads[0], heads[2]}) {
    for (int64_t keys : {512, 4096, 32768}) {
      for (int64_t b : {1, 4, 16, 64}) {
        if (2 * b * h.hkv * keys * h.d * 2 > (int64_t{1} << 32)) continue;  // 4 GiB of K and V at most
        for (AttnImpl impl : impls) {
          const std::string name = "mma_attn_decode_bf16/H=" + std::to_string(h.hq) + "/KV=" + std::to_string(h.hkv) +
                                   "/D=" + std::to_string(h.d) + "/Tk=" + std::to_string(keys) +
                                   "/B=" + std::to_string(b) + "/" + attn_impl_name(impl);
          timed(benchmark::RegisterBenchmark(name.c_str(), bench_mma_decode, b, h.hq, h.hkv, h.d, keys, impl));
        }
      }
    }
  }
}

enum class NormOp { rms_norm, layer_norm, softmax, add_rms_norm };

void bench_norm(benchmark::State& state, NormOp op, int64_t rows, int64_t length, bool invariant) {
  const at::ScalarType t = op == NormOp::softmax ? at::kFloat : at::kBFloat16;
  const int64_t bytes = 2 * rows * length * static_cast<int64_t>(c10::elementSize(t));
  const int sets = rotations_for(bytes);
  std::vector<at::Tensor> xs;
  for (int i = 0; i < sets; ++i) xs.push_back(at::randn({rows, length}, cuda_opts(t)));
  const at::Tensor w = at::randn({length}, cuda_opts(t));
  const std::vector<int64_t> shape = {length};
  time_calls(state, sets, [&](int i) {
    const at::Tensor& x = xs[static_cast<size_t>(i)];
    switch (op) {
      case NormOp::rms_norm:
        if (invariant) {
          (void)ours::rms_norm(x, shape, w, 1e-5);
        } else {
          (void)at::_fused_rms_norm(x, shape, w, 1e-5);
        }
        break;
      case NormOp::layer_norm:
        if (invariant) {
          (void)ours::layer_norm(x, shape, w, w, 1e-5);
        } else {
          (void)at::native_layer_norm(x, shape, w, w, 1e-5);
        }
        break;
      case NormOp::softmax:
        if (invariant) {
          (void)ours::softmax(x, -1, false);
        } else {
          (void)at::_softmax(x, -1, false);
        }
        break;
      case NormOp::add_rms_norm:  // the decoder's residual add + RMSNorm: one fused kernel vs stock's two
        if (invariant) {
          (void)ours::fused_rms_norm(x, xs[static_cast<size_t>((i + 1) % sets)], w, 1e-5);
        } else {
          (void)at::_fused_rms_norm(at::add(x, xs[static_cast<size_t>((i + 1) % sets)]), shape, w, 1e-5);
        }
        break;
    }
  });
  set_rates(state, 0.0, static_cast<double>(bytes));
}

// Portable mode's fp32 GEMM (nn.Linear layout: B = W^T) against cuBLAS fp32 with TF32 off — the
// only fair stock comparison, since portable mode uses no tensor cores. path: kCublasFp32, -1
// (the path the shape picks, named in the label) or one forced path (kernels/portable/cuda_gemm.h).
constexpr int kCublasFp32 = -2;
void bench_portable_gemm(benchmark::State& state, int64_t m, int64_t n, int64_t k, int path) {
  namespace pc = lockstep::kernels::portable::cuda;
  at::globalContext().setAllowTF32CuBLAS(false);
  const int sets = rotations_for((m * k + n * k + m * n) * 4);
  std::vector<at::Tensor> a, w;
  for (int i = 0; i < sets; ++i) {
    a.push_back(at::randn({m, k}, cuda_opts(at::kFloat)));
    w.push_back(at::randn({n, k}, cuda_opts(at::kFloat)));
  }
  time_calls(state, sets, [&](int i) {
    if (path == kCublasFp32) {
      (void)at::mm(a[i], w[i].t());   // the dispatcher's stock CUDA mm (no lockstep mode is set here)
    } else if (path < 0) {
      (void)pc::mm(a[i], w[i].t());
    } else {
      (void)pc::gemm_on_path(a[i], w[i].t(), std::nullopt, 0.0, 1.0, path);
    }
  });
  if (path != kCublasFp32) state.SetLabel(pc::gemm_path_name(path < 0 ? pc::gemm_path_for(m, n, k, true) : path));
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  set_rates(state, flops, 0.0);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// Every benchmark here: CUDA-event timing (time_calls), short runs, microseconds.
void timed(benchmark::internal::Benchmark* b) { b->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond); }

void register_all() {
  auto impl = [](bool invariant) { return invariant ? std::string("ours") : std::string("stock"); };
  struct PortableShape {
    const char* name;
    int64_t n, k;
  };
  // kernels/PERF.md's portable table: SmolLM2's projections and Llama-3-8B's q/o and gate/up, at
  // M = 1 / 32 (decode), 256 and 1024 (prefill); then 4096^3. gemm_fp32_portable_paths/ times
  // every path that takes the shape (for tuning gemm_path_for; not in the default filter).
  for (const PortableShape& s : {PortableShape{"smollm2_q_o", 576, 576}, PortableShape{"smollm2_k_v", 192, 576},
                                 PortableShape{"smollm2_gate_up", 1536, 576}, PortableShape{"smollm2_down", 576, 1536},
                                 PortableShape{"smollm2_lm_head", 49152, 576}, PortableShape{"llama3_8b_q_o", 4096, 4096},
                                 PortableShape{"llama3_8b_gate_up", 14336, 4096}}) {
    for (int64_t m : {1, 32, 256, 1024}) {
      const std::string shape = std::string(s.name) + "/N=" + std::to_string(s.n) + "/K=" + std::to_string(s.k) +
                                "/M=" + std::to_string(m);
      for (int path : {-1, kCublasFp32}) {
        const std::string name = "gemm_fp32_portable/" + shape + (path == -1 ? "/portable" : "/cublas_fp32");
        timed(benchmark::RegisterBenchmark(name.c_str(), bench_portable_gemm, m, s.n, s.k, path));
      }
      for (int p = 0; p < lockstep::kernels::portable::cuda::gemm_path_count(); ++p) {
        if (!lockstep::kernels::portable::cuda::gemm_path_fits(p, m)) continue;
        const std::string name =
            "gemm_fp32_portable_paths/" + shape + "/" + lockstep::kernels::portable::cuda::gemm_path_name(p);
        timed(benchmark::RegisterBenchmark(name.c_str(), bench_portable_gemm, m, s.n, s.k, p));
      }
    }
  }
  for (int path : {-1, kCublasFp32}) {
    timed(benchmark::RegisterBenchmark(path == -1 ? "gemm_fp32_portable/square/N=4096/K=4096/M=4096/portable"
                                                  : "gemm_fp32_portable/square/N=4096/K=4096/M=4096/cublas_fp32",
                                       bench_portable_gemm, 4096, 4096, 4096, path));
  }
  for (const GemmShape& s : kGemmShapes) {
    for (int64_t m : kGemmMs) {
      for (bool inv : {true, false}) {
        const std::string name = std::string("gemm_bf16/") + s.model + "/" + s.name + "/N=" + std::to_string(s.n) +
                                 "/K=" + std::to_string(s.k) + "/M=" + std::to_string(m) + "/" + impl(inv);
        timed(benchmark::RegisterBenchmark(name.c_str(), bench_gemm, s, m, inv));
      }
    }
  }
  for (int64_t b : {1, 2, 4, 8, 16, 32, 64}) {
    for (bool inv : {true, false}) {
      const std::string name = "attn_decode_bf16/H=32/D=128/Tk=4000/B=" + std::to_string(b) + "/" + impl(inv);
      timed(benchmark::RegisterBenchmark(name.c_str(), bench_decode, b, inv));
    }
  }
  for (int64_t t : {512, 2048}) {
    for (bool inv : {true, false}) {
      const std::string name = "attn_prefill_bf16/H=32/D=128/causal/T=" + std::to_string(t) + "/" + impl(inv);
      timed(benchmark::RegisterBenchmark(name.c_str(), bench_prefill, t, inv));
    }
  }
  register_mma_attention();
  struct NormCase {
    const char* name;
    NormOp op;
    int64_t length;
  };
  for (const NormCase& c : {NormCase{"rms_norm_bf16", NormOp::rms_norm, 4096},
                            NormCase{"layer_norm_bf16", NormOp::layer_norm, 4096},
                            NormCase{"softmax_fp32", NormOp::softmax, 49152}}) {
    for (int64_t rows : {1, 64, 4096}) {
      for (bool inv : {true, false}) {
        const std::string name = std::string("norm/") + c.name + "/L=" + std::to_string(c.length) +
                                 "/M=" + std::to_string(rows) + "/" + impl(inv);
        timed(benchmark::RegisterBenchmark(name.c_str(), bench_norm, c.op, rows, c.length, inv));
      }
    }
  }
  // The engine's shapes (issue 20 item 5): SmolLM2's hidden 576 and the 1.07B model's 2048, decode
  // rows 1 and 32, a prefill of 32 x 64 tokens.
  for (const NormCase& c : {NormCase{"rms_norm_bf16", NormOp::rms_norm, 576},
                            NormCase{"rms_norm_bf16", NormOp::rms_norm, 2048},
                            NormCase{"add_rms_norm_bf16", NormOp::add_rms_norm, 576},
                            NormCase{"add_rms_norm_bf16", NormOp::add_rms_norm, 2048}}) {
    for (int64_t rows : {1, 32, 2048}) {
      for (bool inv : {true, false}) {
        const std::string name = std::string("norm/") + c.name + "/L=" + std::to_string(c.length) +
                                 "/M=" + std::to_string(rows) + "/" + impl(inv);
        timed(benchmark::RegisterBenchmark(name.c_str(), bench_norm, c.op, rows, c.length, inv));
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!at::cuda::is_available()) {
    std::printf("lockstep_bench_cuda: no CUDA device, nothing to time\n");
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
  benchmark::AddCustomContext("device", prop->name);
  benchmark::AddCustomContext("sm_count", std::to_string(prop->multiProcessorCount));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Which cuBLASLt algorithm served which M, for the record.
  std::fputs(lockstep::kernels::cuda::gemm::describe_plans().c_str(), stderr);
  return 0;
}

// Does a small-M GEMM of our own give the bits of the pinned cuBLASLt plan,
// and is it faster?
//
// The plan's algorithms for one (N, K) all share one K reduction order
// (cublaslt_pinned.h proves it per rung with bitwise probes): fp32
// accumulators, K walked in order, 16 values per tensor-core step. If an
// mma.sync.m16n8k16 chain over K in the same order gives the same bits, a
// decode-shaped kernel can replace cuBLAS at small M without changing any
// result. This program measures that on the decode GEMMs of the 1.07B Llama
// and SmolLM2-135M (fused q/k/v and gate/up as the engine loads them, o,
// down, head; the unfused k/v too): per shape, the number of output
// elements at M = 1..16 whose bits differ from lockstep's cuda::mm with
// cuBLASLt (LOCKSTEP_GEMM_SMALL_M is unset here) for the plain chain below
// and for gemm_small_m.cu (v3), then at M = 1, 2, 4, 8, 16 the time of
// each in a CUDA graph of back-to-back calls that cycle through copies of
// the weight (>= 256 MB of them, so L2 holds none: an engine step reads
// each layer's weights once), as effective weight TB/s, and the GEMM time
// of a whole decode step of each model (layers x the four projections +
// the head). It asserts nothing: it is the experiment.
//
//   lockstep_gemv_probe            (prints one line per shape and M)
#include <ATen/Context.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ne.h>
#include <ATen/ops/randn.h>
#include <ATen/cuda/CUDAContextLight.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_bf16.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernels/cuda/gemm_small_m.h"
#include "kernels/cuda/ops.h"

namespace {

// out[m, n] = sum_k x[m, k] * w[n, k] for m < M <= 16: warp i owns columns
// 8i .. 8i + 7; its accumulators walk K in steps of 16 from 0, in order.
__global__ void mma_rows(const __nv_bfloat16* __restrict__ x, int64_t M, const __nv_bfloat16* __restrict__ w,
                         int64_t N, int64_t K, __nv_bfloat16* __restrict__ out) {
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int64_t n0 = warp * 8;
  if (n0 >= N) return;
  const int g = lane >> 2, t = lane & 3;
  const auto* wrow = reinterpret_cast<const uint32_t*>(w + (n0 + g) * K);
  const auto* x_lo = g < M ? reinterpret_cast<const uint32_t*>(x + g * K) : nullptr;
  const auto* x_hi = g + 8 < M ? reinterpret_cast<const uint32_t*>(x + (g + 8) * K) : nullptr;
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  for (int64_t k0 = 0; k0 < K; k0 += 16) {
    const int64_t word = k0 / 2 + t;  // bf16 pair (k0 + 2t, k0 + 2t + 1)
    const uint32_t a0 = x_lo ? x_lo[word] : 0u, a1 = x_hi ? x_hi[word] : 0u;
    const uint32_t a2 = x_lo ? x_lo[word + 4] : 0u, a3 = x_hi ? x_hi[word + 4] : 0u;
    const uint32_t b0 = wrow[word], b1 = wrow[word + 4];
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
  const int64_t col = n0 + 2 * t;
  if (g < M) {
    out[g * N + col] = __float2bfloat16_rn(acc[0]);
    out[g * N + col + 1] = __float2bfloat16_rn(acc[1]);
  }
  if (g + 8 < M) {
    out[(g + 8) * N + col] = __float2bfloat16_rn(acc[2]);
    out[(g + 8) * N + col + 1] = __float2bfloat16_rn(acc[3]);
  }
}

void fast_into(const at::Tensor& x, const at::Tensor& w, at::Tensor& out) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  lockstep::kernels::cuda::gemm::small_m_gemm(x.const_data_ptr(), K, w.const_data_ptr(), K, out.data_ptr(), M, N, K,
                                              at::cuda::getCurrentCUDAStream());
}

at::Tensor chain(const at::Tensor& x, const at::Tensor& w) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  at::Tensor out = at::empty({M, N}, x.options());
  const int threads = 128;
  const auto blocks = static_cast<unsigned>((N / 8 * 32 + threads - 1) / threads);
  mma_rows<<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const __nv_bfloat16*>(x.const_data_ptr()), M,
      reinterpret_cast<const __nv_bfloat16*>(w.const_data_ptr()), N, K,
      reinterpret_cast<__nv_bfloat16*>(out.data_ptr()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

int64_t differ(const at::Tensor& x, const at::Tensor& y) {
  return at::ne(x.view(at::kShort), y.view(at::kShort)).sum().item<int64_t>();
}

// Microseconds a call: `calls(i)` for i = 0 .. count - 1 captured once in a
// graph (after one eager pass on the capture stream, which builds plans and
// the cuBLASLt workspace outside the capture), the graph replayed. One
// side stream for every capture (cuBLASLt keeps a workspace per stream).
double graph_micros(int count, const std::function<void(int)>& calls) {
  static const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  c10::cuda::CUDAStreamGuard guard(side);
  for (int i = 0; i < count; ++i) calls(i);
  at::cuda::CUDAGraph graph;
  graph.capture_begin();
  for (int i = 0; i < count; ++i) calls(i);
  graph.capture_end();
  graph.replay();
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  const int reps = 5;
  cudaEventRecord(start, stream);
  for (int r = 0; r < reps; ++r) graph.replay();
  cudaEventRecord(stop, stream);
  cudaEventSynchronize(stop);
  float ms = 0.f;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 1000.0 * ms / (reps * count);
}

struct Shape {
  const char* model;
  const char* name;
  int64_t n, k;
  int per_step;  // GEMMs of this shape in one decode step (0: bits only)
};

}  // namespace

int main() {
  if (!at::globalContext().hasCUDA()) {
    std::puts("no CUDA GPU: nothing to probe");
    return 0;
  }
  unsetenv("LOCKSTEP_GEMM_SMALL_M");  // the reference: the plans' cuBLASLt algorithms at every M
  const std::vector<Shape> shapes = {
      {"1.07B", "qkv", 3072, 2048, 16},   {"1.07B", "o", 2048, 2048, 16},      {"1.07B", "gate_up", 16384, 2048, 16},
      {"1.07B", "down", 2048, 8192, 16},  {"1.07B", "head", 49152, 2048, 1},   {"1.07B", "k|v", 512, 2048, 0},
      {"SmolLM2", "qkv", 960, 576, 30},   {"SmolLM2", "o", 576, 576, 30},      {"SmolLM2", "gate_up", 3072, 576, 30},
      {"SmolLM2", "down", 576, 1536, 30}, {"SmolLM2", "head", 49152, 576, 1}, {"SmolLM2", "k|v", 192, 576, 0}};
  const std::vector<int64_t> timed = {1, 2, 4, 8, 16};
  at::manual_seed(7);
  const auto opts = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  const cudaDeviceProp& prop = *at::cuda::getCurrentDeviceProperties();
  std::printf("gemv_probe on %s (%d SMs): bits at M = 1..16, then times in a CUDA graph, weights cycled past L2\n",
              prop.name, prop.multiProcessorCount);
  std::printf("%-8s %-8s %6s %6s %3s %9s %9s %8s %8s %7s  %s\n", "model", "gemm", "N", "K", "M", "cuBLAS us", "v3 us",
              "cuB TB/s", "v3 TB/s", "speedup", "v3 split");
  bool all_equal = true;
  std::map<std::string, std::map<int64_t, std::pair<double, double>>> step;  // model -> M -> (cuBLAS, v3) us
  for (const Shape& s : shapes) {
    const int64_t bytes = s.n * s.k * 2;
    const int copies = static_cast<int>(std::max<int64_t>(1, ((int64_t{256} << 20) + bytes - 1) / bytes));
    const at::Tensor ws = at::randn({copies, s.n, s.k}, opts);
    const at::Tensor w = ws[0];
    int64_t d_chain = 0, d_fast = 0;
    for (int64_t m = 1; m <= lockstep::kernels::cuda::gemm::kSmallMaxM; ++m) {
      const at::Tensor x = at::randn({m, s.k}, opts);
      const at::Tensor ref = lockstep::kernels::cuda::mm(x, w.t());
      at::Tensor got = at::empty({m, s.n}, opts);
      fast_into(x, w, got);
      d_chain += differ(ref, chain(x, w));
      d_fast += differ(ref, got);
    }
    all_equal = all_equal && d_chain == 0 && d_fast == 0;
    std::printf("%-8s %-8s %6lld %6lld bits at M = 1..16: chain %lld, v3 %lld elements differ from cuBLASLt\n", s.model,
                s.name, static_cast<long long>(s.n), static_cast<long long>(s.k), static_cast<long long>(d_chain),
                static_cast<long long>(d_fast));
    if (s.per_step == 0) continue;
    const int count = std::max(copies, 32);
    for (const int64_t m : timed) {
      const at::Tensor x = at::randn({m, s.k}, opts);
      at::Tensor out = at::empty({m, s.n}, opts);
      const double t_ref = graph_micros(count, [&](int i) { (void)lockstep::kernels::cuda::mm(x, ws[i % copies].t()); });
      const double t_v3 = graph_micros(count, [&](int i) {
        const at::Tensor wi = ws[i % copies];
        fast_into(x, wi, out);
      });
      std::printf("%-8s %-8s %6lld %6lld %3lld %9.2f %9.2f %8.2f %8.2f %6.2fx  %s\n", s.model, s.name,
                  static_cast<long long>(s.n), static_cast<long long>(s.k), static_cast<long long>(m), t_ref, t_v3,
                  static_cast<double>(bytes) / t_ref / 1e6, static_cast<double>(bytes) / t_v3 / 1e6, t_ref / t_v3,
                  lockstep::kernels::cuda::gemm::small_m_config(m, s.n).c_str());
      auto& total = step[s.model][m];
      total.first += s.per_step * t_ref;
      total.second += s.per_step * t_v3;
    }
  }
  for (const auto& [model, per_m] : step) {
    for (const auto& [m, t] : per_m) {
      std::printf("%s decode step at M = %lld: GEMMs %.0f us with cuBLASLt, %.0f us with v3 (%.2fx)\n", model.c_str(),
                  static_cast<long long>(m), t.first, t.second, t.first / t.second);
    }
  }
  std::printf("mma.sync chain and gemm_small_m vs pinned cuBLASLt: %s\n",
              all_equal ? "the same bits everywhere" : "bits differ");
  return 0;
}

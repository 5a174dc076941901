// Can a small-M GEMM of our own give the bits of the pinned cuBLASLt plan?
//
// The plan's algorithms for one (N, K) all share one K reduction order
// (cublaslt_pinned.h proves it per rung with bitwise probes): fp32
// accumulators, K walked in order, 16 values per tensor-core step. If an
// mma.sync.m16n8k16 chain over K in the same order gives the same bits, a
// decode-shaped kernel (M <= 16, one warp per 8 outputs: N / 8 warps instead
// of the N / 64 CTAs cuBLAS runs at M = 1) can replace cuBLAS at small M
// without changing any result. This program measures exactly that, on the
// decode GEMMs of the 1.07B Llama and SmolLM2-135M: for each (N, K, M) the
// number of output elements whose bits differ from lockstep's cuda::mm with
// cuBLASLt at every M (the default; LOCKSTEP_GEMM_SMALL_M=1 is unset here), for the plain chain below
// and for the pipelined kernel the plans can use (gemm_small_m.cu), and the
// kernels' times. It asserts nothing: it is the experiment.
//
//   lockstep_gemv_probe            (prints one line per shape)
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_bf16.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <utility>
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

at::Tensor fast(const at::Tensor& x, const at::Tensor& w) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  at::Tensor out = at::empty({M, N}, x.options());
  lockstep::kernels::cuda::gemm::small_m_gemm(x.const_data_ptr(), K, w.const_data_ptr(), K, out.data_ptr(), M, N, K,
                                              at::cuda::getCurrentCUDAStream());
  return out;
}

at::Tensor ours(const at::Tensor& x, const at::Tensor& w) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  at::Tensor out = at::empty({M, N}, x.options());
  const int64_t warps = N / 8;
  const int threads = 128;
  const auto blocks = static_cast<unsigned>((warps * 32 + threads - 1) / threads);
  mma_rows<<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const __nv_bfloat16*>(x.const_data_ptr()), M,
      reinterpret_cast<const __nv_bfloat16*>(w.const_data_ptr()), N, K,
      reinterpret_cast<__nv_bfloat16*>(out.data_ptr()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

double micros(const std::function<void()>& f) {
  for (int i = 0; i < 5; ++i) f();
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  const int reps = 200;
  cudaEventRecord(start, at::cuda::getCurrentCUDAStream());
  for (int i = 0; i < reps; ++i) f();
  cudaEventRecord(stop, at::cuda::getCurrentCUDAStream());
  cudaEventSynchronize(stop);
  float ms = 0.f;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 1000.0 * ms / reps;
}

}  // namespace

int main() {
  if (!at::globalContext().hasCUDA()) {
    std::puts("no CUDA GPU: nothing to probe");
    return 0;
  }
  unsetenv("LOCKSTEP_GEMM_SMALL_M");  // the reference: the plans' cuBLASLt algorithms at every M
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {3072, 2048}, {2048, 2048}, {16384, 2048}, {2048, 8192}, {49152, 2048},  // 1.07B: qkv, o, gate+up, down, head
      {960, 576},   {576, 576},   {3072, 576},   {576, 1536},  {49152, 576}};  // SmolLM2-135M
  at::manual_seed(7);
  const auto opts = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  std::printf("%6s %6s %3s %7s %7s %10s %8s %8s %10s\n", "N", "K", "M", "differ", "differ", "cuBLAS us", "chain us",
              "fast us", "fast GB/s");
  int all_equal = 1;
  for (const auto& [N, K] : shapes) {
    const at::Tensor w = at::randn({N, K}, opts);
    for (int64_t M : {1, 2, 3, 8, 16}) {
      const at::Tensor x = at::randn({M, K}, opts);
      const at::Tensor ref = lockstep::kernels::cuda::mm(x, w.t());
      const at::Tensor got = ours(x, w);
      const at::Tensor got_fast = fast(x, w);
      const int64_t differ = at::ne(ref.view(at::kShort), got.view(at::kShort)).sum().item<int64_t>();
      const int64_t differ_fast = at::ne(ref.view(at::kShort), got_fast.view(at::kShort)).sum().item<int64_t>();
      all_equal = all_equal && differ == 0 && differ_fast == 0;
      const double t_ref = micros([&] { (void)lockstep::kernels::cuda::mm(x, w.t()); });
      const double t_ours = micros([&] { (void)ours(x, w); });
      const double t_fast = micros([&] { (void)fast(x, w); });
      std::printf("%6lld %6lld %3lld %7lld %7lld %10.1f %8.1f %8.1f %10.0f\n", static_cast<long long>(N),
                  static_cast<long long>(K), static_cast<long long>(M), static_cast<long long>(differ),
                  static_cast<long long>(differ_fast), t_ref, t_ours, t_fast,
                  2.0 * static_cast<double>(N * K) / t_fast / 1e3);
    }
  }
  std::printf("mma.sync chain and gemm_small_m vs pinned cuBLASLt: %s\n",
              all_equal ? "the same bits everywhere" : "bits differ");
  return 0;
}

// The decode GEMM (gemm_small_m.h says what and why). THE ORDER, per output
// element: one fp32 accumulator, starting at 0, takes one
// mma.sync.m16n8k16 step per 16 values of K, k = 0, 16, 32, .. in order;
// the result is rounded once to bf16. Everything else here (which warp,
// which stage, when a load is issued) only moves data.
#include <ATen/cuda/CUDAContext.h>
#include <c10/util/Exception.h>
#include <cuda_bf16.h>

#include "kernels/cuda/gemm_small_m.h"

namespace lockstep::kernels::cuda::gemm {
namespace {

constexpr int kWarps = 2;        // per block; each warp is independent (no block barrier)
constexpr int kTileK = 64;       // K values a stage holds
constexpr int kStages = 16;      // stages in flight per warp
constexpr int kRow = kTileK + 8; // bf16 per staged row: 144 bytes, so the 8 rows' fragments hit 32 banks

__device__ __forceinline__ void copy16(void* shared_dst, const void* global_src) {
  const auto dst = static_cast<uint32_t>(__cvta_generic_to_shared(shared_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(global_src));
}
__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void wait_pending() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ uint32_t word_at(const __nv_bfloat16* p) { return *reinterpret_cast<const uint32_t*>(p); }

__global__ void __launch_bounds__(kWarps * 32) small_m_kernel(const __nv_bfloat16* __restrict__ a, int64_t a_ld,
                                                               const __nv_bfloat16* __restrict__ b, int64_t b_ld,
                                                               __nv_bfloat16* __restrict__ out, int64_t m, int64_t n,
                                                               int64_t k) {
  __shared__ __align__(16) __nv_bfloat16 stage[kWarps][kStages][8][kRow];
  const int warp = static_cast<int>(threadIdx.x / 32), lane = static_cast<int>(threadIdx.x % 32);
  const int64_t n0 = (static_cast<int64_t>(blockIdx.x) * kWarps + warp) * 8;
  if (n0 >= n) return;
  const int g = lane >> 2, t = lane & 3;
  const __nv_bfloat16* rows = b + n0 * b_ld;  // this warp's 8 columns of B, K contiguous each
  const int64_t tiles = k / kTileK;

  // Stage i holds K values [64i, 64i + 64) of the 8 columns: 64 chunks of 16 bytes, two per lane.
  auto issue = [&](int64_t i) {
    if (i < tiles) {
      __nv_bfloat16(*slot)[kRow] = stage[warp][i % kStages];
#pragma unroll
      for (int c = lane; c < 64; c += 32) {
        const int r = c >> 3, col = (c & 7) * 8;
        copy16(&slot[r][col], rows + r * b_ld + i * kTileK + col);
      }
    }
    commit();  // an empty group past the end keeps the count of pending groups uniform
  };
  for (int i = 0; i < kStages - 1; ++i) issue(i);

  const __nv_bfloat16* a_lo = g < m ? a + g * a_ld : nullptr;
  const __nv_bfloat16* a_hi = g + 8 < m ? a + (g + 8) * a_ld : nullptr;
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  for (int64_t i = 0; i < tiles; ++i) {
    wait_pending<kStages - 2>();  // this lane's copies of stage i have landed
    __syncwarp();                 // and every other lane's
    issue(i + kStages - 1);       // into the slot stage i - 1 used (every lane is past it)
    const __nv_bfloat16(*slot)[kRow] = stage[warp][i % kStages];
#pragma unroll
    for (int s = 0; s < kTileK / 16; ++s) {
      const int64_t k0 = i * kTileK + s * 16 + 2 * t;
      const uint32_t a0 = a_lo ? word_at(a_lo + k0) : 0u, a1 = a_hi ? word_at(a_hi + k0) : 0u;
      const uint32_t a2 = a_lo ? word_at(a_lo + k0 + 8) : 0u, a3 = a_hi ? word_at(a_hi + k0 + 8) : 0u;
      const uint32_t b0 = word_at(&slot[g][s * 16 + 2 * t]), b1 = word_at(&slot[g][s * 16 + 2 * t + 8]);
      asm volatile(
          "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
          "{%0,%1,%2,%3};\n"
          : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
          : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
  }
  wait_pending<0>();  // no copy outlives the kernel

  // acc[0..1]: row g, columns n0 + 2t and + 1; acc[2..3]: row g + 8.
  const int64_t col = n0 + 2 * t;
  if (g < m) *reinterpret_cast<__nv_bfloat162*>(out + g * n + col) = __floats2bfloat162_rn(acc[0], acc[1]);
  if (g + 8 < m) *reinterpret_cast<__nv_bfloat162*>(out + (g + 8) * n + col) = __floats2bfloat162_rn(acc[2], acc[3]);
}

}  // namespace

bool small_m_fits(const PlanKey& key) {
  return key.dtype == static_cast<int>(at::kBFloat16) && !key.batched && !key.with_c &&
         key.b_order == BOrder::col_major && key.b_align >= 16 && key.k % kTileK == 0 && key.k > 0 &&
         key.n % 8 == 0 && key.n > 0;
}

void small_m_gemm(const void* a, int64_t a_ld, const void* b, int64_t b_ld, void* out, int64_t m, int64_t n,
                  int64_t k, cudaStream_t stream) {
  TORCH_CHECK(m >= 1 && m <= kSmallMaxM && n % 8 == 0 && k % kTileK == 0 && a_ld % 2 == 0 &&
                  reinterpret_cast<uintptr_t>(a) % 4 == 0,
              "small_m_gemm: M=", m, " N=", n, " K=", k, " lda=", a_ld, " is not a shape it serves");
  const int64_t warps = n / 8;
  const auto blocks = static_cast<unsigned>((warps + kWarps - 1) / kWarps);
  small_m_kernel<<<blocks, kWarps * 32, 0, stream>>>(static_cast<const __nv_bfloat16*>(a), a_ld,
                                                      static_cast<const __nv_bfloat16*>(b), b_ld,
                                                      static_cast<__nv_bfloat16*>(out), m, n, k);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace lockstep::kernels::cuda::gemm

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

constexpr int kWarps = 2;         // per block; each warp is independent (no block barrier)
constexpr int kTileK = 64;        // K values a stage holds
constexpr int kRow = kTileK + 8;  // bf16 per staged row: 144 bytes, so 8 rows' fragments hit 32 banks

__device__ __forceinline__ void copy16(void* shared_dst, const void* global_src) {
  const auto dst = static_cast<uint32_t>(__cvta_generic_to_shared(shared_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(global_src) : "memory");
}
__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void wait_pending() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

__device__ __forceinline__ uint32_t word_at(const __nv_bfloat16* p) { return *reinterpret_cast<const uint32_t*>(p); }

// One tile's operands as the four mma steps take them: per step s, A's
// registers (row g at k, row g + 8 at k, row g at k + 8, row g + 8 at
// k + 8; k = 16s + 2t) and B's (column g at k, at k + 8).
struct Fragments {
  uint32_t a[4][4];
  uint32_t b[4][2];
};

// kRowsA: A rows staged beside B's 8 columns (8 for M <= 8, else 16). Each
// stage holds a tile of 64 K values of both, copied with cp.async; a warp
// reads tile i + 1's fragments before it runs tile i's mma steps, so the
// shared-memory latency hides behind the chain.
template <int kRowsA>
__global__ void __launch_bounds__(kWarps * 32) small_m_kernel(const __nv_bfloat16* __restrict__ a, int64_t a_ld,
                                                               const __nv_bfloat16* __restrict__ b, int64_t b_ld,
                                                               __nv_bfloat16* __restrict__ out, int64_t m, int64_t n,
                                                               int64_t k) {
  constexpr int kStages = kRowsA == 8 ? 8 : 6;  // 36.9 / 41.5 KB of static shared memory a block
  constexpr int kRows = 8 + kRowsA;
  __shared__ __align__(16) __nv_bfloat16 stage[kWarps][kStages][kRows][kRow];
  const int warp = static_cast<int>(threadIdx.x / 32), lane = static_cast<int>(threadIdx.x % 32);
  const int64_t n0 = (static_cast<int64_t>(blockIdx.x) * kWarps + warp) * 8;
  if (n0 >= n) return;
  const int g = lane >> 2, t = lane & 3;
  const __nv_bfloat16* cols = b + n0 * b_ld;  // this warp's 8 columns of B, K contiguous each
  const int64_t tiles = k / kTileK;
  const int chunks = static_cast<int>(8 + m) * 8;  // 16-byte chunks of a stage: 8 a row

  auto issue = [&](int64_t i) {
    if (i < tiles) {
      __nv_bfloat16(*slot)[kRow] = stage[warp][i % kStages];
      for (int c = lane; c < chunks; c += 32) {
        const int r = c >> 3, col = (c & 7) * 8;
        const __nv_bfloat16* src = r < 8 ? cols + r * b_ld : a + (r - 8) * a_ld;
        copy16(&slot[r][col], src + i * kTileK + col);
      }
    }
    commit();  // an empty group past the end keeps the count of pending groups uniform
  };
  auto load = [&](int64_t i, Fragments& f) {
    const __nv_bfloat16(*slot)[kRow] = stage[warp][i % kStages];
#pragma unroll
    for (int s = 0; s < kTileK / 16; ++s) {
      const int kc = s * 16 + 2 * t;
      f.b[s][0] = word_at(&slot[g][kc]);
      f.b[s][1] = word_at(&slot[g][kc + 8]);
      f.a[s][0] = g < m ? word_at(&slot[8 + g][kc]) : 0u;
      f.a[s][2] = g < m ? word_at(&slot[8 + g][kc + 8]) : 0u;
      if constexpr (kRowsA == 16) {
        f.a[s][1] = g + 8 < m ? word_at(&slot[16 + g][kc]) : 0u;
        f.a[s][3] = g + 8 < m ? word_at(&slot[16 + g][kc + 8]) : 0u;
      } else {
        f.a[s][1] = 0u;
        f.a[s][3] = 0u;
      }
    }
  };

  for (int i = 0; i < kStages - 1; ++i) issue(i);
  Fragments cur, next;
  wait_pending<kStages - 2>();  // tile 0 has landed (this lane's copies)
  __syncwarp();                 // (every lane's)
  load(0, cur);
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  for (int64_t i = 0; i < tiles; ++i) {
    if (i + 1 < tiles) {
      wait_pending<kStages - 3>();  // tile i + 1 has landed
      __syncwarp();                 // every lane is also past tile i - 1's fragments
      load(i + 1, next);
    }
    issue(i + kStages - 1);  // into tile i - 1's slot
#pragma unroll
    for (int s = 0; s < kTileK / 16; ++s) {
      asm volatile(
          "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
          "{%0,%1,%2,%3};\n"
          : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
          : "r"(cur.a[s][0]), "r"(cur.a[s][1]), "r"(cur.a[s][2]), "r"(cur.a[s][3]), "r"(cur.b[s][0]),
            "r"(cur.b[s][1]));
    }
    cur = next;
  }
  wait_pending<0>();  // no copy outlives the kernel

  // acc[0..1]: row g, columns n0 + 2t and + 1; acc[2..3]: row g + 8.
  const int64_t col = n0 + 2 * t;
  if (g < m) *reinterpret_cast<__nv_bfloat162*>(out + g * n + col) = __floats2bfloat162_rn(acc[0], acc[1]);
  if (g + 8 < m) *reinterpret_cast<__nv_bfloat162*>(out + (g + 8) * n + col) = __floats2bfloat162_rn(acc[2], acc[3]);
}

}  // namespace

bool small_m_a_fits(const void* a, int64_t a_ld) {
  return reinterpret_cast<uintptr_t>(a) % 16 == 0 && a_ld % 8 == 0;
}

bool small_m_fits(const PlanKey& key) {
  return key.dtype == static_cast<int>(at::kBFloat16) && !key.batched && !key.with_c &&
         key.b_order == BOrder::col_major && key.b_align >= 16 && key.k % kTileK == 0 && key.k > 0 &&
         key.n % 8 == 0 && key.n > 0;
}

void small_m_gemm(const void* a, int64_t a_ld, const void* b, int64_t b_ld, void* out, int64_t m, int64_t n,
                  int64_t k, cudaStream_t stream) {
  TORCH_CHECK(m >= 1 && m <= kSmallMaxM && n % 8 == 0 && k % kTileK == 0 && small_m_a_fits(a, a_ld),
              "small_m_gemm: M=", m, " N=", n, " K=", k, " lda=", a_ld, " is not a shape it serves");
  const int64_t warps = n / 8;
  const auto blocks = static_cast<unsigned>((warps + kWarps - 1) / kWarps);
  const auto* a16 = static_cast<const __nv_bfloat16*>(a);
  const auto* b16 = static_cast<const __nv_bfloat16*>(b);
  auto* out16 = static_cast<__nv_bfloat16*>(out);
  if (m <= 8) {
    small_m_kernel<8><<<blocks, kWarps * 32, 0, stream>>>(a16, a_ld, b16, b_ld, out16, m, n, k);
  } else {
    small_m_kernel<16><<<blocks, kWarps * 32, 0, stream>>>(a16, a_ld, b16, b_ld, out16, m, n, k);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace lockstep::kernels::cuda::gemm

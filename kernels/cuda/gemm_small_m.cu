// The decode GEMM, v3 (gemm_small_m.h says what and why). THE ORDER, per
// output element: one fp32 accumulator, starting at 0, takes one
// mma.sync.m16n8k16 step per 16 values of K, k = 0, 16, 32, .. in order
// (the data dependency through the accumulator enforces it); the result is
// rounded once to bf16. Operands sit in the registers exactly where the
// probe's plain chain (kernels/bench/gemv_probe.cu, mma_rows) puts them;
// A rows >= M are zeros. Everything else here (which warp, which stage,
// when a copy is issued) only moves data.
//
// The data movement (sm_90): one CTA per SM, `consumers` warps (1..16) that
// each own one chain of 8 output columns, and one producer warp. A stage is
// 256 values of K: A's M rows and each consumer's 8 weight rows (512 bytes
// a row), copied global -> shared by cp.async.bulk (TMA, one copy a row,
// issued by the producer's lanes) completing on the stage's `full`
// mbarrier; consumers release it on its `empty` mbarrier. As many stages as
// fit in shared memory (<= 32), so 64-200 KB of weights are in flight per
// SM. Consumers read fragments with ldmatrix one pair of k16 steps ahead of
// the mma steps (row pitch 528 bytes: the 8 rows of an 8x8 matrix hit 8
// distinct 16-byte bank groups). Chains go to CTAs in tiles of `consumers`
// chains; a CTA walks tiles blockIdx.x, + gridDim.x, .. (several rounds
// only for N/8 > 16 x SMs: the heads).
#include <ATen/cuda/CUDAContextLight.h>
#include <c10/core/ScalarType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/util/Exception.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <string>

#include "kernels/cuda/gemm_small_m.h"

namespace lockstep::kernels::cuda::gemm {
namespace {

constexpr int kStageK = 256;               // K values a stage holds
constexpr int kPitch = kStageK * 2 + 16;   // bytes a staged row: 528 = 4 x 128 + 16
constexpr int kMaxConsumers = 16;          // chains (warps) a CTA
constexpr int kMaxStages = 32;
constexpr int kThreads = (kMaxConsumers + 1) * 32;

// Shared memory: S full barriers, S empty barriers, a 128-byte zero block
// (128-aligned), then the S stages (each a multiple of 128 bytes).
constexpr uint32_t barrier_bytes(int stages) { return (16u * stages + 127u) / 128u * 128u; }
constexpr uint32_t header_bytes(int stages) { return barrier_bytes(stages) + 128u; }

struct Params {
  const __nv_bfloat16* a;
  const __nv_bfloat16* b;
  __nv_bfloat16* out;
  int64_t a_ld, b_ld, n;
  int m, k, consumers, stages, tiles;
  uint32_t stage_bytes;
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ void bar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void bar_expect(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void bar_arrive(uint32_t bar) {  // .release.cta: the slot's reads come before
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void bar_wait(uint32_t bar, uint32_t parity) {  // .acquire.cta
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (done == 0);
}
// A weight row's K slice: read once per decode step, so first out of L2.
__device__ __forceinline__ void copy_weights(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar,
                                             uint64_t policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;\n"
      :
      : "r"(dst), "l"(src), "r"(bytes), "r"(bar), "l"(policy)
      : "memory");
}
__device__ __forceinline__ void copy_rows(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
}
// Four 8x8 b16 matrices; lanes 8j..8j+7 give matrix j's row addresses, lane
// 4g + t gets row g, columns 2t, 2t + 1 of each.
__device__ __forceinline__ void ldsm4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}
// One step of the chain. Not volatile: it reads registers only, and the
// accumulator operands order the steps.
__device__ __forceinline__ void mma(float (&acc)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                    uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
#endif

// Two k16 steps' operands. b: ldmatrix of the warp's 8 weight rows at k
// offsets 0, 8, 16, 24 = (b0, b1) of step 0, (b0, b1) of step 1. a, for
// kRowsA = 8: rows 0-7 at k offsets 0, 8, 16, 24 = (a0, a2) of step 0, of
// step 1 (a1 = a3 = 0: rows 8-15); for 16: per step rows 0-7 / 8-15 at k
// offsets 0 / 8 = (a0, a1, a2, a3).
template <int kRowsA>
struct Pair {
  uint32_t b[4];
  uint32_t a[kRowsA / 2];
};

// kRowsA: A rows the mma steps take from shared memory (8 for M <= 8, else
// 16); lanes whose row is >= M read zeros from the zero block, at the
// offset modulo 128 their row would have (no bank conflict with live rows).
template <int kRowsA>
__global__ void __launch_bounds__(kThreads, 1) small_m_kernel(const Params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int kPairs = kStageK / 32;  // pairs of k16 steps a full stage
  extern __shared__ __align__(128) unsigned char smem[];
  const int stages = p.stages, consumers = p.consumers;
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const uint32_t full0 = base, empty0 = base + 8u * stages, zero = base + barrier_bytes(stages);
  const uint32_t stage0 = base + header_bytes(stages);
  const int warp = static_cast<int>(threadIdx.x / 32), lane = static_cast<int>(threadIdx.x % 32);
  if (threadIdx.x < 32) reinterpret_cast<uint32_t*>(smem + barrier_bytes(stages))[threadIdx.x] = 0u;
  if (static_cast<int>(threadIdx.x) < stages) {
    bar_init(full0 + 8u * threadIdx.x, 1);                                  // the producer's expect_tx
    bar_init(empty0 + 8u * threadIdx.x, static_cast<uint32_t>(consumers));  // one arrival per consumer warp
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");     // visible to the copy engine
  }
  __syncthreads();

  const int chains = static_cast<int>(p.n / 8);
  const int k_stages = (p.k + kStageK - 1) / kStageK;
  auto slot_of = [&](int it) { return stage0 + static_cast<uint32_t>(it % stages) * p.stage_bytes; };
  auto parity_of = [&](int it) { return static_cast<uint32_t>((it / stages) & 1); };

  if (warp == consumers) {  // the producer: stage after stage, tile after tile, in the consumers' order
    uint64_t evict_first;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(evict_first));
    int it = 0;
    for (int tile = static_cast<int>(blockIdx.x); tile < p.tiles; tile += static_cast<int>(gridDim.x)) {
      const int chain0 = tile * consumers;
      const int rows = p.m + 8 * min(consumers, chains - chain0);  // A's rows, then each chain's 8 weight rows
      const __nv_bfloat16* w = p.b + static_cast<int64_t>(chain0) * 8 * p.b_ld;
      for (int st = 0; st < k_stages; ++st, ++it) {
        const int k0 = st * kStageK;
        const uint32_t bytes = 2u * static_cast<uint32_t>(min(kStageK, p.k - k0));
        const uint32_t full = full0 + 8u * static_cast<uint32_t>(it % stages), dst = slot_of(it);
        bar_wait(empty0 + 8u * static_cast<uint32_t>(it % stages), parity_of(it) ^ 1u);  // round 0: free
        if (lane == 0) bar_expect(full, bytes * static_cast<uint32_t>(rows));
        __syncwarp();
        for (int r = lane; r < rows; r += 32) {
          const uint32_t to = dst + static_cast<uint32_t>(r) * kPitch;
          if (r < p.m) {
            copy_rows(to, p.a + r * p.a_ld + k0, bytes, full);
          } else {
            copy_weights(to, w + (r - p.m) * p.b_ld + k0, bytes, full, evict_first);
          }
        }
      }
    }
    return;
  }

  // A consumer: warp `warp` of each tile's chains.
  const int g = lane >> 2, t = lane & 3;
  const uint32_t w_lane = static_cast<uint32_t>((p.m + 8 * warp + (lane & 7)) * kPitch + (lane >> 3) * 16);
  const int a_row = kRowsA == 16 ? (lane & 7) + ((lane >> 3) & 1) * 8 : (lane & 7);
  const bool a_live = a_row < p.m;
  const uint32_t a_lane = static_cast<uint32_t>(a_row * kPitch + (kRowsA == 16 ? (lane >> 4) : (lane >> 3)) * 16);
  auto load = [&](Pair<kRowsA>& f, uint32_t slot, int kk) {  // kk: K offset in the stage, a multiple of 32
    const uint32_t kb = 2u * static_cast<uint32_t>(kk);
    ldsm4(f.b, slot + w_lane + kb);
    if constexpr (kRowsA == 16) {
      uint32_t s0[4], s1[4];
      ldsm4(s0, a_live ? slot + a_lane + kb : zero + ((a_lane + kb) & 127u));
      ldsm4(s1, a_live ? slot + a_lane + kb + 32u : zero + ((a_lane + kb + 32u) & 127u));
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        f.a[i] = s0[i];
        f.a[4 + i] = s1[i];
      }
    } else {
      ldsm4(f.a, a_live ? slot + a_lane + kb : zero + ((a_lane + kb) & 127u));
    }
  };
  auto steps = [&](float (&acc)[4], const Pair<kRowsA>& f) {  // k, then k + 16
    if constexpr (kRowsA == 16) {
      mma(acc, f.a[0], f.a[1], f.a[2], f.a[3], f.b[0], f.b[1]);
      mma(acc, f.a[4], f.a[5], f.a[6], f.a[7], f.b[2], f.b[3]);
    } else {
      mma(acc, f.a[0], 0u, f.a[1], 0u, f.b[0], f.b[1]);
      mma(acc, f.a[2], 0u, f.a[3], 0u, f.b[2], f.b[3]);
    }
  };
  auto release = [&](int it) {
    __syncwarp();  // every lane's reads of the slot are done
    if (lane == 0) bar_arrive(empty0 + 8u * static_cast<uint32_t>(it % stages));
  };

  int it = 0;
  for (int tile = static_cast<int>(blockIdx.x); tile < p.tiles; tile += static_cast<int>(gridDim.x)) {
    const int chain = tile * consumers + warp;
    if (chain >= chains) {  // the last tile's spare warp: keeps the barriers' counts, computes nothing
      for (int st = 0; st < k_stages; ++st, ++it) {
        bar_wait(full0 + 8u * static_cast<uint32_t>(it % stages), parity_of(it));
        release(it);
      }
      continue;
    }
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    Pair<kRowsA> cur{}, next{};
    bar_wait(full0 + 8u * static_cast<uint32_t>(it % stages), parity_of(it));
    load(cur, slot_of(it), 0);
    for (int st = 0; st < k_stages; ++st) {
      const int pairs = st + 1 < k_stages ? kPairs : (p.k - st * kStageK) / 32;
      const uint32_t here = slot_of(it + st);
#pragma unroll
      for (int q = 0; q < kPairs; ++q) {
        if (q < pairs) {
          // The next pair's loads go first: issue is in order, and the mma
          // steps below wait on the accumulator.
          if (q + 1 < pairs) {
            load(next, here, (q + 1) * 32);
          } else if (st + 1 < k_stages) {
            bar_wait(full0 + 8u * static_cast<uint32_t>((it + st + 1) % stages), parity_of(it + st + 1));
            load(next, slot_of(it + st + 1), 0);
          }
          steps(acc, cur);
          cur = next;
        }
      }
      release(it + st);
    }
    it += k_stages;
    // acc[0..1]: row g, columns 8 chain + 2t, + 1; acc[2..3]: row g + 8.
    const int64_t col = static_cast<int64_t>(chain) * 8 + 2 * t;
    if (g < p.m) *reinterpret_cast<__nv_bfloat162*>(p.out + g * p.n + col) = __floats2bfloat162_rn(acc[0], acc[1]);
    if (kRowsA == 16 && g + 8 < p.m) {
      *reinterpret_cast<__nv_bfloat162*>(p.out + (g + 8) * p.n + col) = __floats2bfloat162_rn(acc[2], acc[3]);
    }
  }
#else
  __trap();  // small_m_fits never lets a plan run it below sm_90
#endif
}

struct Config {
  int consumers = 1, stages = 2, tiles = 1, grid = 1;
  uint32_t stage_bytes = 0, smem = 0;
};

// Chains (N / 8) spread over the SMs: `rounds` tiles per CTA at most, the
// fewest consumers per CTA that cover N in that many rounds; stages fill the
// shared memory, and at least half of it is asked for, so no SM holds two
// CTAs while another has none. (Fewer consumers a CTA where the shared
// memory would not hold two stages: never on the H100, 227 KB.)
Config config_for(int64_t m, int64_t n, const cudaDeviceProp& prop) {
  const int64_t chains = n / 8, sms = prop.multiProcessorCount;
  const auto budget = static_cast<uint32_t>(prop.sharedMemPerBlockOptin);
  Config c;
  for (int64_t most = kMaxConsumers; most >= 1; most /= 2) {
    const int64_t rounds = (chains + sms * most - 1) / (sms * most);
    c.consumers = static_cast<int>((chains + sms * rounds - 1) / (sms * rounds));
    c.tiles = static_cast<int>((chains + c.consumers - 1) / c.consumers);
    c.grid = static_cast<int>(std::min<int64_t>(c.tiles, sms));
    c.stage_bytes = static_cast<uint32_t>((m + 8 * c.consumers) * kPitch + 127) / 128 * 128;
    c.stages = budget > header_bytes(kMaxStages)
                   ? static_cast<int>(std::min<uint32_t>(kMaxStages, (budget - header_bytes(kMaxStages)) / c.stage_bytes))
                   : 0;
    if (c.stages >= 2) break;
  }
  c.smem = std::max(header_bytes(c.stages) + static_cast<uint32_t>(c.stages) * c.stage_bytes,
                    std::min(budget, static_cast<uint32_t>(prop.sharedMemPerMultiprocessor / 2 + 1024)));
  return c;
}

template <int kRowsA>
void launch(const Params& p, const Config& c, int device, const cudaDeviceProp& prop, cudaStream_t stream) {
  static std::mutex mutex;
  static std::array<bool, 64> allowed{};  // per device: the opt-in shared memory limit is set
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (device < 0 || device >= 64 || !allowed[static_cast<size_t>(device)]) {
      C10_CUDA_CHECK(cudaFuncSetAttribute(small_m_kernel<kRowsA>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(prop.sharedMemPerBlockOptin)));
      if (device >= 0 && device < 64) allowed[static_cast<size_t>(device)] = true;
    }
  }
  small_m_kernel<kRowsA><<<c.grid, (c.consumers + 1) * 32, c.smem, stream>>>(p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

bool small_m_a_fits(const void* a, int64_t a_ld) {
  return reinterpret_cast<uintptr_t>(a) % 16 == 0 && a_ld % 8 == 0;
}

bool small_m_fits(const PlanKey& key) {
  return key.dtype == static_cast<int>(at::kBFloat16) && !key.batched && !key.with_c &&
         key.b_order == BOrder::col_major && key.b_align >= 16 && key.k % 64 == 0 && key.k > 0 &&
         key.n % 8 == 0 && key.n > 0 && at::cuda::getDeviceProperties(key.device)->major == 9;
}

std::string small_m_config(int64_t m, int64_t n) {
  const Config c = config_for(m, n, *at::cuda::getCurrentDeviceProperties());
  return std::to_string(c.grid) + " CTAs x " + std::to_string(c.consumers) + " chains, " + std::to_string(c.tiles) +
         " tiles, " + std::to_string(c.stages) + " stages of " + std::to_string(c.stage_bytes) + " B";
}

void small_m_gemm(const void* a, int64_t a_ld, const void* b, int64_t b_ld, void* out, int64_t m, int64_t n,
                  int64_t k, cudaStream_t stream) {
  TORCH_CHECK(m >= 1 && m <= kSmallMaxM && n > 0 && n % 8 == 0 && k > 0 && k % 64 == 0 && k <= b_ld &&
                  small_m_a_fits(a, a_ld) && reinterpret_cast<uintptr_t>(b) % 16 == 0 && b_ld % 8 == 0,
              "small_m_gemm: M=", m, " N=", n, " K=", k, " lda=", a_ld, " ldb=", b_ld, " is not a shape it serves");
  const int device = c10::cuda::current_device();
  const cudaDeviceProp& prop = *at::cuda::getDeviceProperties(device);
  TORCH_CHECK(prop.major == 9, "small_m_gemm: built for sm_90a only (cp.async.bulk)");
  const Config c = config_for(m, n, prop);
  TORCH_CHECK(c.stages >= 2, "small_m_gemm: N=", n, " leaves no room for two stages");
  Params p;
  p.a = static_cast<const __nv_bfloat16*>(a);
  p.b = static_cast<const __nv_bfloat16*>(b);
  p.out = static_cast<__nv_bfloat16*>(out);
  p.a_ld = a_ld;
  p.b_ld = b_ld;
  p.n = n;
  p.m = static_cast<int>(m);
  p.k = static_cast<int>(k);
  p.consumers = c.consumers;
  p.stages = c.stages;
  p.tiles = c.tiles;
  p.stage_bytes = c.stage_bytes;
  if (m <= 8) {
    launch<8>(p, c, device, prop, stream);
  } else {
    launch<16>(p, c, device, prop, stream);
  }
}

}  // namespace lockstep::kernels::cuda::gemm

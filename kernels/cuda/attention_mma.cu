// The tensor-core attention's kernels and launches (THE ORDER and the device
// functions: attention_mma.cuh), and the LOCKSTEP_ATTENTION_MMA switch.
// attention_walk: one block of 4 warps per (64-row tile, kv head), the K/V
// blocks staged in shared memory by cp.async (two in flight), walking the
// tile's splits and merging them as it goes. attention_split_mma + combine:
// one warp per (16-row tile, kv head, split), results merged by a second
// kernel. Same device functions, same bits; the launch picks by the grid.
#include <ATen/cuda/CUDAContextLight.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "kernels/cuda/attention_mma.cuh"
#include "kernels/cuda/attention_mma.h"

namespace lockstep::kernels::cuda {
namespace attention_mma {

template <typename T, int D, bool kPaged, bool kMask>
__global__ void __launch_bounds__(kWalkWarps * 32, 2) attention_walk(const Args a) {
  extern __shared__ __align__(16) uint16_t smem[];
  __shared__ int range_s[2][kWalkWarps];
  uint16_t* q_tile = smem;
  uint16_t* kv = smem + kWalkRows * D;  // stage st: K at 2 st, V at 2 st + 1 (tiles of 64 x D)
  const int tid = static_cast<int>(threadIdx.x), warp = tid >> 5, lane = tid & 31;

  // Heaviest tiles first: the last row tile of every (batch, kv head), then the one before, ..
  int64_t idx;
  if constexpr (kPaged) {
    idx = a.units - 1 - blockIdx.x;
  } else {
    const int64_t bh_count = gridDim.x / a.units;
    idx = (blockIdx.x % bh_count) * a.units + (a.units - 1 - blockIdx.x / bh_count);
  }
  const Unit u = unit_at<kPaged, kWalkRows>(a, idx);
  if (!u.active) return;

  const int64_t wrow0 = u.row0 + warp * kWarpRows;
  RowView rv[2];
  rv[0] = row_view<kPaged>(a, u, wrow0 + (lane >> 2));
  rv[1] = row_view<kPaged>(a, u, wrow0 + (lane >> 2) + 8);
  const int lo = __reduce_min_sync(0xffffffffu, min(rv[0].lo, rv[1].lo));
  const int hi = __reduce_max_sync(0xffffffffu, max(rv[0].hi, rv[1].hi));
  if (lane == 0) {
    range_s[0][warp] = lo;
    range_s[1][warp] = hi;
  }
  stage_q<kPaged, D, kWalkRows, kWalkWarps * 32>(a, u, q_tile, tid);
  cp_commit();
  __syncthreads();
  int clo = INT_MAX, chi = -1;
#pragma unroll
  for (int w = 0; w < kWalkWarps; ++w) {
    clo = min(clo, range_s[0][w]);
    chi = max(chi, range_s[1][w]);
  }
  const int fb = chi >= clo ? clo / kKeys : 0, lb = chi >= clo ? chi / kKeys : -1;
  auto k_tile = [&](int st) { return kv + (2 * st) * kKeys * D; };
  auto v_tile = [&](int st) { return kv + (2 * st + 1) * kKeys * D; };
  if (fb <= lb) {
    stage_kv<kPaged, D, kWalkWarps * 32>(a, u, fb * kKeys, k_tile(0), v_tile(0), tid);
    cp_commit();
    cp_wait<1>();
  } else {
    cp_wait<0>();
  }
  __syncthreads();
  const uint32_t q_lane = q_lane_addr<D>(q_tile, warp * kWarpRows, lane);

  float O[D / 8][4], M[2] = {neg_inf(), neg_inf()}, L[2] = {0.0f, 0.0f};
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) O[n][i] = 0.0f;
  }
  WarpState<D> w;
  bool any = false;  // the warp ran a block of the current split
  for (int blk = fb; blk <= lb; ++blk) {
    const int st = (blk - fb) & 1;
    if (blk < lb) {
      stage_kv<kPaged, D, kWalkWarps * 32>(a, u, (blk + 1) * kKeys, k_tile(st ^ 1), v_tile(st ^ 1), tid);
      cp_commit();
      cp_wait<1>();
    } else {
      cp_wait<0>();
    }
    __syncthreads();
    if (blk == fb || blk % kBlocksPerSplit == 0) {
      reset(w);
      any = false;
    }
    if (lo <= blk * kKeys + kKeys - 1 && hi >= blk * kKeys) {
      block_step<T, D, kMask>(w, q_lane, shared_addr(k_tile(st)), shared_addr(v_tile(st)), blk * kKeys, rv, a, lane);
      any = true;
    }
    if (any && (blk == lb || blk % kBlocksPerSplit == kBlocksPerSplit - 1)) {
      float ls[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) ls[h] = quad_sum(w.l[h]);
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if (w.m[h] == neg_inf()) continue;  // the row saw nothing of this split
        const MergeCoef c = merge_coef(M[h], w.m[h]);
        L[h] = merge_value(L[h], ls[h], c);
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
          O[n][2 * h] = merge_value(O[n][2 * h], w.acc[n][2 * h], c);
          O[n][2 * h + 1] = merge_value(O[n][2 * h + 1], w.acc[n][2 * h + 1], c);
        }
      }
    }
    __syncthreads();
  }

  uint16_t* out = static_cast<uint16_t*>(a.p.out);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t row = wrow0 + (lane >> 2) + 8 * h;
    if (row >= u.rows) continue;
    uint16_t* o = out + out_offset<kPaged>(a, u, row) + 2 * (lane & 3);
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      *reinterpret_cast<uint32_t*>(o + 8 * n) =
          to_bits<T>(finish_value(O[n][2 * h], L[h], M[h])) | (to_bits<T>(finish_value(O[n][2 * h + 1], L[h], M[h])) << 16);
    }
  }
}

// Workspace of a launch: [unit - unit0][16 rows][split][2 + D]: m_s, l_s, acc_s.
template <typename T, int D, bool kPaged, bool kMask>
__global__ void __launch_bounds__(32) attention_split_mma(const Args a) {
  extern __shared__ __align__(16) uint16_t smem[];
  uint16_t* q_tile = smem;
  uint16_t* kv = smem + kWarpRows * D;
  const int lane = static_cast<int>(threadIdx.x);
  const int64_t local = blockIdx.x;
  const int split = static_cast<int>(blockIdx.y);
  const Unit u = unit_at<kPaged, kWarpRows>(a, a.unit0 + local);
  if (!u.active) return;

  RowView rv[2];
  rv[0] = row_view<kPaged>(a, u, u.row0 + (lane >> 2));
  rv[1] = row_view<kPaged>(a, u, u.row0 + (lane >> 2) + 8);
  const int lo = __reduce_min_sync(0xffffffffu, min(rv[0].lo, rv[1].lo));
  const int hi = __reduce_max_sync(0xffffffffu, max(rv[0].hi, rv[1].hi));
  const int64_t stride = a.p.nsplit * (D + 2);
  float* ws = a.p.ws + local * kWarpRows * stride + static_cast<int64_t>(split) * (D + 2);
  const int fb = hi >= lo ? max(lo / kKeys, split * kBlocksPerSplit) : 0;
  const int lb = hi >= lo ? min(hi / kKeys, split * kBlocksPerSplit + kBlocksPerSplit - 1) : -1;
  if (fb > lb) {  // no row sees a key of this split
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = (lane >> 2) + 8 * h;
      if ((lane & 3) == 0 && u.row0 + r < u.rows) {
        ws[r * stride] = neg_inf();
        ws[r * stride + 1] = 0.0f;
      }
    }
    return;
  }
  auto k_tile = [&](int st) { return kv + (2 * st) * kKeys * D; };
  auto v_tile = [&](int st) { return kv + (2 * st + 1) * kKeys * D; };
  stage_q<kPaged, D, kWarpRows, 32>(a, u, q_tile, lane);
  cp_commit();
  stage_kv<kPaged, D, 32>(a, u, fb * kKeys, k_tile(0), v_tile(0), lane);
  cp_commit();
  cp_wait<1>();
  __syncthreads();
  const uint32_t q_lane = q_lane_addr<D>(q_tile, 0, lane);

  WarpState<D> w;
  reset(w);
  for (int blk = fb; blk <= lb; ++blk) {
    const int st = (blk - fb) & 1;
    if (blk < lb) {
      stage_kv<kPaged, D, 32>(a, u, (blk + 1) * kKeys, k_tile(st ^ 1), v_tile(st ^ 1), lane);
      cp_commit();
      cp_wait<1>();
    } else {
      cp_wait<0>();
    }
    __syncthreads();
    if (lo <= blk * kKeys + kKeys - 1 && hi >= blk * kKeys) {
      block_step<T, D, kMask>(w, q_lane, shared_addr(k_tile(st)), shared_addr(v_tile(st)), blk * kKeys, rv, a, lane);
    }
    __syncthreads();
  }
  float ls[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) ls[h] = quad_sum(w.l[h]);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = (lane >> 2) + 8 * h;
    if (u.row0 + r >= u.rows) continue;
    float* row = ws + r * stride;
    if ((lane & 3) == 0) {
      row[0] = w.m[h];
      row[1] = ls[h];
    }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      *reinterpret_cast<float2*>(row + 2 + 8 * n + 2 * (lane & 3)) = make_float2(w.acc[n][2 * h], w.acc[n][2 * h + 1]);
    }
  }
}

// One block per (unit, row), one thread per value dim: the splits in order.
template <typename T, int D, bool kPaged>
__global__ void __launch_bounds__(D) attention_combine_mma(const Args a) {
  const int64_t local = blockIdx.x;  // (unit - unit0) * 16 + row in the unit
  const Unit u = unit_at<kPaged, kWarpRows>(a, a.unit0 + local / kWarpRows);
  if (!u.active) return;
  const int64_t row = u.row0 + local % kWarpRows;
  if (row >= u.rows) return;
  const float* ws = a.p.ws + local * a.p.nsplit * (D + 2);
  const int d = static_cast<int>(threadIdx.x);
  float M = neg_inf(), L = 0.0f, O = 0.0f;
  for (int64_t s = 0; s < a.p.nsplit; ++s) {
    const float* w = ws + s * (D + 2);
    const float m_s = w[0];
    if (m_s == neg_inf()) continue;
    const MergeCoef c = merge_coef(M, m_s);
    L = merge_value(L, w[1], c);
    O = merge_value(O, w[2 + d], c);
  }
  static_cast<uint16_t*>(a.p.out)[out_offset<kPaged>(a, u, row) + d] =
      static_cast<uint16_t>(to_bits<T>(finish_value(O, L, M)));
}

}  // namespace attention_mma

namespace {

std::atomic<int> g_on{-1};      // -1: the environment decides
std::atomic<int> g_kernel{0};   // MmaKernel

}  // namespace

bool attention_mma_enabled() {
  const int on = g_on.load();
  if (on >= 0) return on == 1;
  static const bool env = [] {
    const char* v = std::getenv("LOCKSTEP_ATTENTION_MMA");
    return v != nullptr && std::string(v) == "1";
  }();
  return env;
}

bool attention_mma_supports(at::ScalarType t, int64_t head_dim, int64_t value_dim) {
  return (t == at::kBFloat16 || t == at::kHalf) && head_dim == value_dim && (head_dim == 64 || head_dim == 128);
}

AttentionMmaOverride::AttentionMmaOverride(bool on, MmaKernel kernel)
    : saved_on_(g_on.exchange(on ? 1 : 0)), saved_kernel_(g_kernel.exchange(static_cast<int>(kernel))) {}

AttentionMmaOverride::~AttentionMmaOverride() {
  g_on.store(saved_on_);
  g_kernel.store(saved_kernel_);
}

namespace attention_detail {
namespace {

using namespace attention_mma;

// Dynamic shared memory above 48 KiB is opt-in, per kernel and device.
template <class Kernel>
void allow_smem(Kernel kernel, int bytes, std::atomic<uint64_t>& done) {
  int dev = 0;
  C10_CUDA_CHECK(cudaGetDevice(&dev));
  const uint64_t bit = uint64_t{1} << (dev & 63);
  if ((done.load() & bit) != 0) return;
  C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  done.fetch_or(bit);
}

template <typename T, int D, bool kPaged, bool kMask>
void run_walk(const Args& a, int64_t ctas) {
  static std::atomic<uint64_t> ready{0};
  constexpr int bytes = smem_bytes<D>(kWalkRows);
  allow_smem(attention_walk<T, D, kPaged, kMask>, bytes, ready);
  attention_walk<T, D, kPaged, kMask>
      <<<static_cast<unsigned>(ctas), kWalkWarps * 32, bytes, at::cuda::getCurrentCUDAStream()>>>(a);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T, int D, bool kPaged, bool kMask>
void run_split(Args a, int64_t units, const at::Tensor& like) {
  static std::atomic<uint64_t> ready{0};
  constexpr int bytes = smem_bytes<D>(kWarpRows);
  allow_smem(attention_split_mma<T, D, kPaged, kMask>, bytes, ready);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t per_unit = kWarpRows * a.p.nsplit * (D + 2);
  const int64_t chunk = std::max<int64_t>(1, std::min(units, attention_detail::kWorkspaceFloats / per_unit));
  const at::Tensor ws = at::empty({chunk * per_unit}, like.options().dtype(at::kFloat));
  a.p.ws = ws.data_ptr<float>();
  for (int64_t unit0 = 0; unit0 < units; unit0 += chunk) {
    const int64_t n = std::min(chunk, units - unit0);
    a.unit0 = unit0;
    attention_split_mma<T, D, kPaged, kMask>
        <<<dim3(static_cast<unsigned>(n), static_cast<unsigned>(a.p.nsplit)), 32, bytes, stream>>>(a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    attention_combine_mma<T, D, kPaged><<<static_cast<unsigned>(n * kWarpRows), D, 0, stream>>>(a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// split: the split kernel; `count` is its units (split) or the walk's blocks.
template <bool kPaged>
void dispatch(const Args& a, at::ScalarType t, bool mask, bool split, int64_t count, const at::Tensor& like) {
  auto go = [&](auto type_tag, auto d_tag, auto mask_tag) {
    using T = typename decltype(type_tag)::type;
    constexpr int D = decltype(d_tag)::value;
    constexpr bool kMask = decltype(mask_tag)::value;
    if (split) {
      run_split<T, D, kPaged, kMask>(a, count, like);
    } else {
      run_walk<T, D, kPaged, kMask>(a, count);
    }
  };
  auto with_mask = [&](auto type_tag, auto d_tag) {
    if constexpr (kPaged) {
      go(type_tag, d_tag, std::false_type{});
    } else if (mask) {
      go(type_tag, d_tag, std::true_type{});
    } else {
      go(type_tag, d_tag, std::false_type{});
    }
  };
  auto with_d = [&](auto type_tag) {
    if (a.p.D == 64) {
      with_mask(type_tag, std::integral_constant<int, 64>{});
    } else {
      with_mask(type_tag, std::integral_constant<int, 128>{});
    }
  };
  if (t == at::kBFloat16) {
    with_d(TypeTag<__nv_bfloat16>{});
  } else {
    with_d(TypeTag<__half>{});
  }
}

Args make_args(const Params& p, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(attention_mma_supports(q.scalar_type(), p.D, p.Dv), "attention (mma): unsupported dtype or head dims");
  Args a{};
  a.p = p;
  a.scale_log2 = static_cast<float>(static_cast<double>(p.scale) * 1.4426950408889634);
  a.qvec = aligned16(q) ? 1 : 0;
  a.kvvec = aligned16(k) && aligned16(v) ? 1 : 0;
  return a;
}

// Which kernel: the one forced by a test, else the split kernel where the
// walk would not have a block for every SM (decode, short chunks against
// long contexts) and there is more than one split to spread.
bool use_split(int64_t walk_blocks, int64_t nsplit) {
  const auto forced = static_cast<MmaKernel>(g_kernel.load());
  if (forced != MmaKernel::automatic) return forced == MmaKernel::split;
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  return nsplit > 1 && walk_blocks < sms;
}

}  // namespace

void mma_sdpa(const Params& p, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  Args a = make_args(p, q, k, v);
  const int64_t bh = q.size(0) * p.Hkv, rows = p.rows_per_kv;
  const int64_t walk_tiles = (rows + kWalkRows - 1) / kWalkRows;
  const bool mask = p.mask_kind != kNoMask;
  if (use_split(bh * walk_tiles, p.nsplit)) {
    a.units = (rows + kWarpRows - 1) / kWarpRows;
    dispatch<false>(a, q.scalar_type(), mask, true, bh * a.units, q);
  } else {
    a.units = walk_tiles;
    dispatch<false>(a, q.scalar_type(), mask, false, bh * walk_tiles, q);
  }
}

void mma_paged(const Params& p, const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
               int64_t entries, int row_tile, int64_t sequences) {
  Args a = make_args(p, q, k_cache, v_cache);
  a.units = entries;
  a.row_tile = row_tile;
  // The walk's working blocks (entries that start a 64-row tile), estimated.
  const int64_t walk_blocks = std::max(sequences * p.Hkv, entries * row_tile / kWalkRows);
  dispatch<true>(a, q.scalar_type(), false, use_split(walk_blocks, p.nsplit), entries, q);
}

}  // namespace attention_detail
}  // namespace lockstep::kernels::cuda

// lockstep's tensor-core attention for bf16/fp16, head dims 64 and 128
// (D == Dv), shared by aten SDPA over dense tensors and the paged KV cache.
// Launches, the switch and the choice of kernel: attention_mma.cu.
//
// THE ORDER, per row. A row is (query i, head in the GQA group) as in
// attention_kernel.cuh's Params: row = i * G + head in group, a kv head's
// rows 0 .. Tq * G - 1. All arithmetic below is fp32 with one rounding per
// operation (explicit __fmul_rn / __fadd_rn / __fmaf_rn, never contracted);
// ex2 is the PTX instruction ex2.approx.ftz.f32; mma is
// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16} (fp32 accumulators).
//  * key j is visible to the row when j < Tk (dense) / j <= its position
//    (paged; and pos - j < window when window > 0), j <= i when causal
//    (dense, top-left), the bool mask is true and the additive mask is not
//    -inf. Keys at or past the sequence's length are never read: the K/V
//    staged for them are zeros.
//  * keys go in splits of S = kKvSplit (256) at fixed boundaries 0, S, ..;
//    a split in blocks of 64 keys at fixed boundaries, in increasing order,
//    with a state (m, l, acc) that starts at (-inf, 0, +0) in each split.
//    For a block (keys k0 .. k0 + 63):
//      s_j  = mma chain over D: C = 0, then d = 0-15, 16-31, .. in order,
//             each step one mma (q · k_j of 16 dims added to C)
//      t_j  = s_j * scale_log2 (scale * log2 e, rounded once on the host),
//             with an additive mask: max(fma(mask_j, log2 e, s_j *
//             scale_log2), -FLT_MAX) (a finite mask never hides a key: a row
//             masked everywhere by finfo.min averages, as in aten); hidden
//             keys: -inf
//      b    = max of t_j over the block (exact, any order)
//      if b == -inf (the row sees no key of the block): m and l stay,
//             alpha = 1 and every p_j = 0, so acc = acc * 1 + (0 · v
//             products): unchanged (see "what that leaves" below);
//      else: m' = max(m, b); alpha = ex2(m - m')  (0 when m = -inf)
//             p_j  = ex2(t_j - m') (0 for hidden keys), fp32
//             l    = fma(l, alpha, r) with r = sum of the row's p_j held by
//                    one thread, keys 8n + 2c + e (c = lane % 4 of the
//                    row's quad) in order n = 0..7, e = 0, 1, from +0 (so
//                    l is the thread's partial; 4 partials per row)
//             acc  = acc * alpha, then 4 mma steps, keys k0 + 0-15, 16-31,
//                    32-47, 48-63 in order, of P (p_j rounded to the input
//                    type) times V
//             m = m'
//  * the split's result: m; l_s = (l_c0 + l_c1) + (l_c2 + l_c3) (the quad's
//    partials, xor-1 then xor-2 shuffle); acc.
//  * splits merge in increasing split order, from M = -inf, L = 0, O = +0,
//    skipping splits with m_s = -inf:
//      M' = max(M, m_s); a = ex2(M - M'); b = ex2(m_s - M')
//      L = fma(L, a, l_s * b); O_d = fma(O_d, a, acc_sd * b); M = M'
//    out_d = O_d / L (IEEE division) rounded to nearest-even in the input
//    type; a row that sees no key gives zeros.
// Two kernels compute this, with the same device functions (block_step,
// quad_sum, merge_coef / merge_value, finish_value): attention_walk, one
// block of 4 warps per (tile of 64 rows, kv head) walking its splits and
// merging as it goes (prefill), and attention_split_mma, one warp per
// (tile of 16 rows, kv head, split) writing (m_s, l_s, acc_s) to a workspace
// that attention_combine_mma merges (decode). Both give the same bits, so
// which one runs may depend on anything (attention_mma.cu looks at the grid).
//
// Why a row's bits depend on nothing else. A warp owns 16 rows (mma M = 16);
// mma rows are independent and a row's softmax state lives in its quad, so
// what shares the warp does not enter a row's arithmetic. A warp skips
// blocks and splits no row of it sees; a row that sees nothing of a block
// the warp runs takes the exact no-op branch above (alpha = 1 exactly, P = 0
// rows); a split a row sees nothing of has m_s = -inf and is skipped by the
// merge. What that leaves: (1) the P = 0 entries of such a row still enter
// the P·V mma as 0 · v products (a hidden key the warp's other rows see,
// or a hidden key of a block the row sees), where a row alone might have a
// zero key there (past its length) or no block at all: the tensor core
// adds exact zeros, which cannot change a nonzero sum nor the +0 an exact
// cancellation gives (acc starts at +0 and is never -0), so this relies on
// the mma adding zero products exactly, checked by the prefill == decode
// tests on the GPU, not proven here; (2) a NaN or inf VALUE at a key that
// some row of the warp sees makes 0 · v = NaN for the warp's rows that do
// not see it. Keys no row of the warp sees have their V zeroed before the
// mma, and keys past the length are zeros, so garbage in a cache's unused
// slots or behind a mask never reaches a row; only non-finite data inside
// some row's visible range can.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>
#include <climits>
#include <cstdint>

#include "kernels/cuda/attention_kernel.cuh"

namespace lockstep::kernels::cuda::attention_mma {

using attention_detail::kAddMask;
using attention_detail::kBoolMask;
using attention_detail::kSplit;
using attention_detail::Params;

constexpr int kKeys = 64;  // keys per block
constexpr int kBlocksPerSplit = kSplit / kKeys;
constexpr int kWarpRows = 16;
constexpr int kWalkWarps = 4;
constexpr int kWalkRows = kWalkWarps * kWarpRows;
constexpr int kStages = 2;  // K/V blocks in flight
constexpr float kLog2e = 1.4426950408889634f;
static_assert(kSplit % kKeys == 0, "splits hold whole blocks");

struct Args {
  Params p;
  float scale_log2;  // p.scale * log2(e), rounded once (host)
  int row_tile;      // paged: rows of one tile-map entry (paged_tiles())
  int qvec, kvvec;   // 16-byte loads of q rows / of k and v rows
  int64_t units;     // dense: row tiles per kv head; paged: tile-map entries
  int64_t unit0;     // split kernel: first unit of this launch
};

// Shared memory: a [rows][D] tile of q and kStages x (K, V) [64][D] tiles.
template <int D>
constexpr int smem_bytes(int q_rows) {
  return (q_rows + 2 * kStages * kKeys) * D * 2;
}

// ---- PTX --------------------------------------------------------------------

__device__ __forceinline__ uint32_t shared_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// 16 bytes from src, or 16 zero bytes (nothing read) when !fill.
__device__ __forceinline__ void cp16(uint32_t dst, const void* src, bool fill) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(fill ? 16 : 0) : "memory");
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void cp_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
// d += a (16x16, row-major) * b (16x8, col-major).
template <typename T>
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }

// Round to nearest-even in T: one element's bits, and two packed (lo first).
template <typename T>
__device__ __forceinline__ uint32_t to_bits(float x) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat16_as_ushort(__float2bfloat16_rn(x));
  } else {
    return __half_as_ushort(__float2half_rn(x));
  }
}
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  return to_bits<T>(lo) | (to_bits<T>(hi) << 16);
}

// ---- the order's arithmetic (the only place it is written) ------------------

__device__ __forceinline__ float quad_sum(float x) {
  x = __fadd_rn(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return __fadd_rn(x, __shfl_xor_sync(0xffffffffu, x, 2));
}

struct MergeCoef {
  float a, b;
};
// Merges a split with m_s != -inf into a row whose running maximum is M.
__device__ __forceinline__ MergeCoef merge_coef(float& M, float m_s) {
  const float next = fmaxf(M, m_s);
  const MergeCoef c{ex2(__fsub_rn(M, next)), ex2(__fsub_rn(m_s, next))};
  M = next;
  return c;
}
__device__ __forceinline__ float merge_value(float x, float y, MergeCoef c) {
  return __fmaf_rn(x, c.a, __fmul_rn(y, c.b));
}
__device__ __forceinline__ float finish_value(float O, float L, float M) {
  return M == neg_inf() ? 0.0f : __fdiv_rn(O, L);
}

// ---- where rows, keys and values live ----------------------------------------

// What a unit of rows shares: batch entry (dense) or sequence (paged), kv
// head, first row, rows per kv head, keys (Tk, or the sequence's length),
// position of query 0 and (paged) its token in q.
struct Unit {
  int64_t b, hk, row0, rows, pos0, q0;
  int tk;
  bool active;  // paged: the tile-map entry starts a unit of R rows
};

template <bool kPaged, int R>
__device__ __forceinline__ Unit unit_at(const Args& a, int64_t idx) {
  const Params& p = a.p;
  if constexpr (kPaged) {
    const int32_t* m = p.tile_map + 3 * idx;
    const int64_t b = m[0], start = static_cast<int64_t>(m[2]) * a.row_tile;
    const int64_t* s = p.seqs + 3 * b;
    return {b, m[1], start, s[1] * p.G, s[2], s[0], static_cast<int>(s[2] + s[1]), start % R == 0};
  } else {
    const int64_t bh = idx / a.units;
    return {bh / p.Hkv, bh % p.Hkv, (idx % a.units) * R, p.rows_per_kv, 0, 0, static_cast<int>(p.Tk), true};
  }
}

// Keys lo .. hi are visible to a row before its mask (none when hi < lo,
// as for rows past the unit's count); mask_at: its mask offset at key 0.
struct RowView {
  int lo, hi;
  int64_t mask_at;
};

template <bool kPaged>
__device__ __forceinline__ RowView row_view(const Args& a, const Unit& u, int64_t row) {
  RowView v{INT_MAX, -1, 0};
  if (row >= u.rows) return v;
  const Params& p = a.p;
  const int64_t qi = row / p.G, hq = u.hk * p.G + row % p.G;
  if constexpr (kPaged) {
    const int64_t pos = u.pos0 + qi;
    v.hi = static_cast<int>(pos);
    v.lo = p.window > 0 && pos - p.window + 1 > 0 ? static_cast<int>(pos - p.window + 1) : 0;
  } else {
    v.hi = p.causal && qi < u.tk - 1 ? static_cast<int>(qi) : u.tk - 1;
    v.lo = 0;
    v.mask_at = u.b * p.ms[0] + hq * p.ms[1] + qi * p.ms[2];
  }
  return v;
}

template <bool kPaged>
__device__ __forceinline__ int64_t q_offset(const Args& a, const Unit& u, int64_t row) {
  const Params& p = a.p;
  const int64_t qi = row / p.G, hq = u.hk * p.G + row % p.G;
  return kPaged ? (u.q0 + qi) * p.qs[0] + hq * p.qs[1] : u.b * p.qs[0] + hq * p.qs[1] + qi * p.qs[2];
}
template <bool kPaged>
__device__ __forceinline__ int64_t out_offset(const Args& a, const Unit& u, int64_t row) {
  const Params& p = a.p;
  const int64_t qi = row / p.G, hq = u.hk * p.G + row % p.G;
  return (kPaged ? (u.q0 + qi) * p.Hq + hq : (u.b * p.Hq + hq) * p.Tq + qi) * p.Dv;
}

// Element offset of 16-byte chunk c of row r in a [rows][D] tile: chunks
// are XOR-swizzled by r % 8, so the 8 rows an ldmatrix phase reads sit in
// 8 different bank groups.
template <int D>
__device__ __forceinline__ int swz(int r, int c) {
  return r * D + ((c ^ (r & 7)) << 3);
}

// One chunk of 8 elements into shared memory: cp.async, or (operands not
// 16-byte aligned) element loads; zeros, nothing read, when !in.
__device__ __forceinline__ void stage_chunk(uint16_t* dst, const uint16_t* src, bool in, bool vec) {
  if (vec) {
    cp16(shared_addr(dst), src, in);
  } else {
    uint32_t w[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t lo = in ? src[2 * i] : 0u, hi = in ? src[2 * i + 1] : 0u;
      w[i] = lo | (hi << 16);
    }
    *reinterpret_cast<uint4*>(dst) = make_uint4(w[0], w[1], w[2], w[3]);
  }
}

// Rows row0 .. row0 + R - 1 of q into a [R][D] tile (zeros past the count).
template <bool kPaged, int D, int R, int kThreads>
__device__ __forceinline__ void stage_q(const Args& a, const Unit& u, uint16_t* tile, int tid) {
  const uint16_t* q = static_cast<const uint16_t*>(a.p.q);
  constexpr int C = D / 8;
  for (int c = tid; c < R * C; c += kThreads) {
    const int r = c / C, ch = c % C;
    const int64_t row = u.row0 + r;
    const bool in = row < u.rows;
    stage_chunk(tile + swz<D>(r, ch), in ? q + q_offset<kPaged>(a, u, row) + ch * 8 : q, in, a.qvec);
  }
}

// Keys key0 .. key0 + 63 of K and V into [64][D] tiles (zeros at j >= tk).
template <bool kPaged, int D, int kThreads>
__device__ __forceinline__ void stage_kv(const Args& a, const Unit& u, int key0, uint16_t* kt, uint16_t* vt,
                                         int tid) {
  const Params& p = a.p;
  const uint16_t* k = static_cast<const uint16_t*>(p.k);
  const uint16_t* v = static_cast<const uint16_t*>(p.v);
  constexpr int C = D / 8;
#pragma unroll
  for (int c = tid; c < kKeys * C; c += kThreads) {
    const int r = c / C, ch = c % C, j = key0 + r;
    const bool in = j < u.tk;
    int64_t ko = 0, vo = 0;  // offset 0 is a valid address, never read when !in
    if (in) {
      if constexpr (kPaged) {
        const int blk = static_cast<int>(p.block);
        const int64_t row = (p.tables[u.b * p.table_width + j / blk] * p.Hkv + u.hk) * blk + j % blk;
        ko = row * D;
        vo = row * D;
      } else {
        ko = u.b * p.ks[0] + u.hk * p.ks[1] + j * p.ks[2];
        vo = u.b * p.vs[0] + u.hk * p.vs[1] + j * p.vs[2];
      }
    }
    const int off = swz<D>(r, ch);
    stage_chunk(kt + off, k + ko + ch * 8, in, a.kvvec);
    stage_chunk(vt + off, v + vo + ch * 8, in, a.kvvec);
  }
}

// ---- one warp's 16 rows --------------------------------------------------------

// Lane l holds rows l / 4 (h = 0) and l / 4 + 8 (h = 1) of the warp's 16,
// columns 8n + 2 (l % 4) + e of every 8-wide n-tile (the mma C layout).
template <int D>
struct WarpState {
  float acc[D / 8][4];
  float m[2], l[2];
};

template <int D>
__device__ __forceinline__ void reset(WarpState<D>& w) {
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) w.acc[n][i] = 0.0f;
  }
  w.m[0] = w.m[1] = neg_inf();
  w.l[0] = w.l[1] = 0.0f;
}

// Both bf16 halves of a V fragment register kept (bit set) or zeroed.
__device__ __forceinline__ uint32_t keep_halves(uint32_t bits) {
  return ((bits & 1u) ? 0x0000ffffu : 0u) | ((bits & 2u) ? 0xffff0000u : 0u);
}

// Shared address of this lane's row of a warp's 16 q rows (from row r0 of a
// swizzled [rows][D] tile) for ldmatrix of the mma A fragments.
template <int D>
__device__ __forceinline__ uint32_t q_lane_addr(const uint16_t* q_tile, int r0, int lane) {
  return shared_addr(q_tile) + static_cast<uint32_t>((r0 + (lane & 15)) * D * 2);
}

// THE ORDER's block step for the warp's rows; kt / vt: shared addresses of
// the block's swizzled K and V tiles; q_lane: q_lane_addr() of the rows.
template <typename T, int D, bool kMask>
__device__ __forceinline__ void block_step(WarpState<D>& w, uint32_t q_lane, uint32_t kt, uint32_t vt, int key0,
                                           const RowView (&rv)[2], const Args& a, int lane) {
  const int quad = lane & 3;
  float s[kKeys / 8][4];
#pragma unroll
  for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) s[n][i] = 0.0f;
  }
  // S = Q K^T. Per 16 dims 16kk ..: ldmatrix x4 gives q's A fragment
  // (rows 0-7 / 8-15, dims + 0-7 / + 8-15), and the B fragments of two
  // n-tiles (keys 16np + 0-7 and + 8-15).
  const uint32_t k_lane = kt + static_cast<uint32_t>((8 * (lane >> 4) + (lane & 7)) * D * 2);
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    uint32_t qa[4];
    ldsm_x4(qa, q_lane + static_cast<uint32_t>((((2 * kk + (lane >> 4)) ^ (lane & 7)) * 8) * 2));
    const int chunk = (2 * kk + ((lane >> 3) & 1)) ^ (lane & 7);
#pragma unroll
    for (int np = 0; np < kKeys / 16; ++np) {
      uint32_t b[4];
      ldsm_x4(b, k_lane + static_cast<uint32_t>((16 * np * D + chunk * 8) * 2));
      mma<T>(s[2 * np], qa, b[0], b[1]);
      mma<T>(s[2 * np + 1], qa, b[2], b[3]);
    }
  }

  uint32_t seen_keys = 0;  // bit 2n + e: key 8n + 2 quad + e visible to a row of this lane
  float bmax[2] = {neg_inf(), neg_inf()};
#pragma unroll
  for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int h = i >> 1, j = key0 + 8 * n + 2 * quad + (i & 1);
      bool vis = j >= rv[h].lo && j <= rv[h].hi;
      float x = __fmul_rn(s[n][i], a.scale_log2);
      if constexpr (kMask) {
        if (vis) {
          const int64_t at = rv[h].mask_at + j * a.p.ms[3];
          if (a.p.mask_kind == kBoolMask) {
            vis = static_cast<const bool*>(a.p.mask)[at];
          } else {
            const float add = static_cast<const float*>(a.p.mask)[at];
            vis = add != neg_inf();
            x = fmaxf(__fmaf_rn(add, kLog2e, x), -FLT_MAX);  // finfo.min masks stay finite
          }
        }
      }
      s[n][i] = vis ? x : neg_inf();
      seen_keys |= static_cast<uint32_t>(vis) << (2 * n + (i & 1));
      bmax[h] = fmaxf(bmax[h], s[n][i]);
    }
  }
  float alpha[2], next[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    bmax[h] = fmaxf(bmax[h], __shfl_xor_sync(0xffffffffu, bmax[h], 1));
    bmax[h] = fmaxf(bmax[h], __shfl_xor_sync(0xffffffffu, bmax[h], 2));
    const bool seen = bmax[h] != neg_inf();
    next[h] = seen ? fmaxf(w.m[h], bmax[h]) : w.m[h];
    alpha[h] = seen ? ex2(__fsub_rn(w.m[h], next[h])) : 1.0f;
  }
  float rsum[2] = {0.0f, 0.0f};
#pragma unroll
  for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int h = i >> 1;
      s[n][i] = s[n][i] != neg_inf() ? ex2(__fsub_rn(s[n][i], next[h])) : 0.0f;
      rsum[h] = __fadd_rn(rsum[h], s[n][i]);  // per h: n = 0..7, e = 0, 1 in order
    }
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (bmax[h] != neg_inf()) w.l[h] = __fmaf_rn(w.l[h], alpha[h], rsum[h]);
    w.m[h] = next[h];
  }
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) w.acc[n][i] = __fmul_rn(w.acc[n][i], alpha[i >> 1]);
  }
  // P as A fragments: the C layout of n-tiles 2kk2, 2kk2 + 1 is the A layout of keys 16kk2 ..
  uint32_t pa[kKeys / 16][4];
#pragma unroll
  for (int kk2 = 0; kk2 < kKeys / 16; ++kk2) {
    pa[kk2][0] = pack2<T>(s[2 * kk2][0], s[2 * kk2][1]);
    pa[kk2][1] = pack2<T>(s[2 * kk2][2], s[2 * kk2][3]);
    pa[kk2][2] = pack2<T>(s[2 * kk2 + 1][0], s[2 * kk2 + 1][1]);
    pa[kk2][3] = pack2<T>(s[2 * kk2 + 1][2], s[2 * kk2 + 1][3]);
  }
  // Keys no row of the warp sees: their values are zeroed (a lane's V
  // fragments hold exactly the keys 8n + 2 quad + e its P fragments do).
  seen_keys |= __shfl_xor_sync(0xffffffffu, seen_keys, 4);
  seen_keys |= __shfl_xor_sync(0xffffffffu, seen_keys, 8);
  seen_keys |= __shfl_xor_sync(0xffffffffu, seen_keys, 16);
  const bool full = __all_sync(0xffffffffu, seen_keys == 0xffffu);
  // acc += P V: ldmatrix x4.trans gives the B fragments of two n-tiles
  // (value dims 16dp + 0-7 and + 8-15) for keys 16kk2 .. 16kk2 + 15.
  const uint32_t v_lane = vt + static_cast<uint32_t>((8 * ((lane >> 3) & 1) + (lane & 7)) * D * 2);
#pragma unroll
  for (int kk2 = 0; kk2 < kKeys / 16; ++kk2) {
    const uint32_t z0 = full ? 0xffffffffu : keep_halves(seen_keys >> (4 * kk2));
    const uint32_t z1 = full ? 0xffffffffu : keep_halves(seen_keys >> (4 * kk2 + 2));
#pragma unroll
    for (int dp = 0; dp < D / 16; ++dp) {
      const int chunk = (2 * dp + (lane >> 4)) ^ (lane & 7);
      uint32_t b[4];
      ldsm_x4_t(b, v_lane + static_cast<uint32_t>((16 * kk2 * D + chunk * 8) * 2));
      mma<T>(w.acc[2 * dp], pa[kk2], b[0] & z0, b[1] & z1);
      mma<T>(w.acc[2 * dp + 1], pa[kk2], b[2] & z0, b[3] & z1);
    }
  }
}

}  // namespace lockstep::kernels::cuda::attention_mma

// Batch-invariant scaled-dot-product attention (dropout 0): the kernel behind
// aten SDPA (sdpa.cpp) and the engine's paged attention (paged_attention.cpp);
// attention_problem.h says how each lays out its rows and keys.
//
// THE ORDER, per query row i of head h (kv head h / (Hq / Hkv)):
//  * A key j is hidden when causality (j > i), a false bool mask entry or an
//    additive mask entry of -inf hides it. Hidden keys are skipped: they
//    add nothing anywhere, which is why a row's bits do not depend on Tq, on
//    keys past the ones it sees, or on the padding of a ragged batch.
//  * Keys go in splits of kKvSplit (splits.h) at fixed boundaries 0, S, 2S..
//    For a split with at least one visible key:
//      s_j   = dot(q, k_j) * scale (+ additive mask)  dot: 16 lanes over D,
//              fma per term, the tree of lanes.h
//      m     = max of s_j over the visible keys
//      p_j   = exp16(s_j - m), 0 for hidden keys
//      l     = sum of p_j over the split in 16 lanes (lane = j mod 16)
//      acc_d = fma(p_j, v_jd, acc_d) over visible j in increasing j, from +0
//  * Splits combine in increasing order: the first one sets (M, L, ACC);
//    each next one (m, l, acc): M' = max(M, m), a = exp(M - M'),
//    b = exp(m - M'), L = L*a + l*b, ACC = ACC*a + acc*b (separate
//    roundings, no fma).
//  * out = ACC / L; a row that sees no key gives zeros (stock CPU SDPA
//    gives zeros too).
// The order depends on D, Dv and the key positions only, never on the batch,
// Tq, Tk beyond the row's keys, threads or the ISA (nor, paged, on the block
// size or which blocks hold the keys: a key is read where the table says).
//
// How it runs (none of it shows in the bits): rows in bundles of 2-4 that
// share their K/V reads (Bundle), bundles in tiles of 16 that run split by
// split so a split's K/V stays in L2 (attention_rows_body), and, where a
// (sequence, kv head) has 16+ query rows and D = Dv is 64 or 128, keys
// transposed once per call (attention_keys.cpp) so that 16 dots are vector
// fmas over keys and the lane tree vector adds (attention_blocks.h,
// TransposedDots): the same products and additions in the same order.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/attention_blocks.h"
#include "kernels/cpu/attention_problem.h"
#include "kernels/cpu/lanes.h"
#include "kernels/splits.h"

namespace lockstep::kernels::cpu {
namespace {

using attention::Problem;

using BF16 = c10::BFloat16;
using lanes::F16;
using lanes::kLanes;
using namespace attention_blocks;

constexpr int64_t kSplit = kKvSplit;
static_assert(kSplit % kLanes == 0, "splits must start on a lane boundary");

// Where query row `row` of a Problem reads and writes, and which keys it sees.
struct RowPlace {
  int64_t b = 0, hk = 0;   // sequence and kv head (shared by a bundle)
  int64_t q = 0, out = 0;  // element offsets of the query row and the output row
  int64_t moff = 0;        // mask offset of (b, h, i)
  int64_t kmin = 0, kmax = 0;  // keys [kmin, kmax) exist for this row (causality, window)
};

LOCKSTEP_LANES_INLINE RowPlace place(const Problem& p, int64_t row) {
  RowPlace r;
  if (p.paged.tables != nullptr) {
    // row = (token * Hkv + hk) * G + g: a bundle shares the token and kv head
    const int64_t G = p.Hq / p.Hkv, n = row / p.Hq, h = row % p.Hq;
    r.b = p.paged.tok_seq[n];
    r.hk = h / G;
    r.q = n * p.qs[0] + h * p.qs[1];
    r.out = row * p.Dv;
    r.kmax = p.paged.tok_pos[n] + 1;
    r.kmin = p.paged.window > 0 ? std::max<int64_t>(0, r.kmax - p.paged.window) : 0;
    return r;
  }
  const int64_t i = row % p.Tq, h = (row / p.Tq) % p.Hq;
  r.b = row / (p.Tq * p.Hq);
  r.hk = h / (p.Hq / p.Hkv);
  r.q = r.b * p.qs[0] + h * p.qs[1] + i * p.qs[2];
  r.out = row * p.Dv;
  r.moff = r.b * p.ms[0] + h * p.ms[1] + i * p.ms[2];
  r.kmax = p.causal ? std::min(p.Tk, i + 1) : p.Tk;
  return r;
}

// Element offsets of keys (and values) j0 .. j0 + n - 1 of sequence b, past
// its kv head: j * position stride, or (paged) table[j / block] * block
// stride + (j % block) * position stride, one table lookup per block.
LOCKSTEP_LANES_INLINE void split_offsets(const Problem& p, int64_t b, int64_t j0, int64_t n, int64_t* koff,
                                         int64_t* voff) {
  if (p.paged.tables == nullptr) {
    for (int64_t jj = 0; jj < n; ++jj) {
      koff[jj] = (j0 + jj) * p.ks[2];
      voff[jj] = (j0 + jj) * p.vs[2];
    }
    return;
  }
  for (int64_t jj = 0; jj < n;) {
    const int64_t j = j0 + jj, blk = j / p.paged.block, in = j - blk * p.paged.block;
    const int64_t id = p.paged.tables[b * p.paged.table_stride + blk];
    const int64_t run = std::min(p.paged.block - in, n - jj);
    for (int64_t r = 0; r < run; ++r) {
      koff[jj + r] = id * p.ks[0] + (in + r) * p.ks[2];
      voff[jj + r] = id * p.vs[0] + (in + r) * p.vs[2];
    }
    jj += run;
  }
}

typedef uint8_t B16 __attribute__((vector_size(16)));

// One query row's running state (THE ORDER's M, L, ACC) inside a bundle.
template <class T, int64_t kChunks>
struct QueryRow {
  F16 qc[kChunks];     // q, zero padded to whole chunks
  F16 total[kChunks];  // ACC
  float M = 0.0f, L = 0.0f;
  bool any = false;    // some split had a visible key
  int64_t moff = 0;    // mask offset of (b, h, i)
  int64_t kmin = 0, kmax = 0;  // keys [kmin, kmax) exist for this row (causality, window)
  int64_t n = 0;       // keys of the current split, 0 if none
  T* out = nullptr;
};

// Rows [row0, row0 + nr) (nr <= R) share b and the kv head, so they share
// the K and V they read: each 16-key block of K is scored for every row
// while it is in L1, and each V row feeds R independent fma chains (one
// row's chain alone is latency bound). Every row still runs THE ORDER on
// its own; nothing crosses rows. begin() loads the rows, split(j0) runs
// one split of keys for them, end() writes the outputs: a tile of bundles
// runs split by split (attention_rows_body) so that a split's K and V stay
// in L2 while every bundle of the tile reads them. `work` holds
// kMaxBundle * kSplit floats (scores), then room for 16 widened keys and a
// zero row (bf16 only).
template <class T, int kNd, int R>
struct Bundle {
  static constexpr int64_t kChunks = kNd > 0 ? kNd : kMaxChunks;
  QueryRow<T, kChunks> rows[R];
  alignas(64) float qf[R][kNd > 0 ? kNd * kLanes : 1];  // q as floats, for TransposedDots
  const float* ktb = nullptr;  // transposed keys of this (sequence, kv head), if transpose_keys made them
  const float* vwb = nullptr;  // and its values widened to fp32 (bf16 only)
  const T* kb = nullptr;
  const T* vb = nullptr;
  int64_t b = 0, kmax = 0;
  int nr = 0;

  LOCKSTEP_LANES_INLINE void begin(const Problem& p, int64_t row0, int n_rows) {
    const int64_t D = p.D;
    const int64_t nd = kNd > 0 ? kNd : (D + kLanes - 1) / kLanes;
    const RowPlace first = place(p, row0);
    nr = n_rows;
    b = first.b;
    const int64_t bk = p.paged.tables != nullptr ? 0 : b;  // paged: the block table places every key
    kb = static_cast<const T*>(p.k) + bk * p.ks[0] + first.hk * p.ks[1];
    vb = static_cast<const T*>(p.v) + bk * p.vs[0] + first.hk * p.vs[1];
    ktb = vwb = nullptr;
    if constexpr (kNd > 0)
      if (p.kt != nullptr && p.kt_off[b * p.Hkv + first.hk] >= 0) {
        ktb = p.kt + p.kt_off[b * p.Hkv + first.hk];
        if (p.vw != nullptr) vwb = p.vw + p.kt_off[b * p.Hkv + first.hk];
      }
    kmax = 0;
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      QueryRow<T, kChunks>& qr = rows[r];
      const RowPlace at = place(p, row0 + (r < nr ? r : 0));
      const T* q = static_cast<const T*>(p.q) + at.q;
      for (int64_t c = 0; c < kChunks; ++c) qr.qc[c] = c < nd ? load_chunk(q, c * kLanes, D) : lanes::splat(0.0f);
      for (int64_t c = 0; c < kChunks; ++c) qr.total[c] = lanes::splat(0.0f);
      qr.M = qr.L = 0.0f;
      qr.any = false;
      qr.moff = at.moff;
      qr.kmin = at.kmin;
      qr.kmax = r >= nr ? 0 : at.kmax;
      qr.out = static_cast<T*>(p.out) + at.out;
      kmax = std::max(kmax, qr.kmax);
      if constexpr (kNd > 0)
        for (int64_t c = 0; c < kNd; ++c) lanes::store16(qf[r] + c * kLanes, qr.qc[c]);
    }
  }

  // Keys [j0, j0 + kSplit) (j0 < kmax).
  LOCKSTEP_LANES_INLINE void split(const Problem& p, int64_t j0, float* work) {
    const int64_t D = p.D, Dv = p.Dv;
    const int64_t nd = kNd > 0 ? kNd : (D + kLanes - 1) / kLanes;
    const int64_t ndv = kNd > 0 ? kNd : (Dv + kLanes - 1) / kLanes;
    const float neg_inf = -__builtin_inff();
    const T* zero = static_cast<const T*>(p.zero_row);
    float* wide_keys = work + kMaxBundle * kSplit;           // 16 keys of nd chunks
    const float* wide_zero = wide_keys + kLanes * kMaxChunks * kLanes;  // nd zero chunks
    alignas(16) uint8_t vis[R][kSplit];
    // which keys of the split each row sees; keys [0, common) every row sees
    int64_t common = kSplit;
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      QueryRow<T, kChunks>& qr = rows[r];
      qr.n = std::max<int64_t>(0, std::min(kSplit, qr.kmax - j0));
      const int64_t padded = (qr.n + kLanes - 1) / kLanes * kLanes;
      int64_t visible = qr.n;
      if (p.bool_mask || p.add_mask) {
        visible = 0;
        for (int64_t jj = 0; jj < qr.n; ++jj) {
          const int64_t at = qr.moff + (j0 + jj) * p.ms[3];
          vis[r][jj] = p.bool_mask ? p.bool_mask[at] : p.add_mask[at] != neg_inf;
          visible += vis[r][jj];
        }
      } else if (qr.kmin > j0) {  // a sliding window: what a bool mask of it would hide
        visible = 0;
        for (int64_t jj = 0; jj < qr.n; ++jj) {
          vis[r][jj] = j0 + jj >= qr.kmin;
          visible += vis[r][jj];
        }
      } else {
        std::memset(vis[r], 1, static_cast<size_t>(qr.n));
      }
      std::memset(vis[r] + qr.n, 0, static_cast<size_t>(padded - qr.n));
      if (visible == 0) qr.n = 0;
      // (the padding rows of a partial bundle, r >= nr, see no key and do
      // not count: a GQA group of 3 fills 3 of 4 rows)
      if (r < nr) common = std::min(common, visible == qr.n ? qr.n : 0);
    }
    // scores, 16 keys at a time; hidden keys read a zero row (so every block
    // runs the same code) and then score -inf
    F16 mvec[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) mvec[r] = lanes::splat(neg_inf);
    const int64_t nmax = std::min(kSplit, kmax - j0);
    int64_t koff[kSplit], voff[kSplit];
    split_offsets(p, b, j0, nmax, koff, voff);
    for (int64_t jb = 0; jb < nmax; jb += kLanes) {
      F16 st[R];
      if constexpr (kNd > 0)
        if (ktb != nullptr) TransposedDots<kNd, R>{ktb + (j0 + jb) * kNd * kLanes, qf}.dots(st);
      // bf16 keys are widened (exactly) once per block, not once per row
      const int64_t dp = nd * kLanes;
      if (ktb != nullptr) {
      } else if constexpr (!std::is_same_v<T, float>) {
        for (int64_t t = 0; t < std::min<int64_t>(kLanes, nmax - jb); ++t)
          for (int64_t c = 0; c < nd; ++c)
            lanes::store16(wide_keys + t * dp + c * kLanes, load_chunk(kb + koff[jb + t], c * kLanes, D));
      }
      for (int r = 0; r < R; ++r) {
        const QueryRow<T, kChunks>& qr = rows[r];
        if (jb >= qr.n) continue;
        F16 s;
        if (ktb != nullptr) {
          s = st[r] * p.scale;
        } else if constexpr (std::is_same_v<T, float>) {
          const float* keys[kLanes];
          for (int t = 0; t < kLanes; ++t) keys[t] = vis[r][jb + t] ? kb + koff[jb + t] : zero;
          s = dots16<float, kNd>(qr.qc, keys, D) * p.scale;
        } else {
          const float* keys[kLanes];
          for (int t = 0; t < kLanes; ++t) keys[t] = vis[r][jb + t] ? wide_keys + t * dp : wide_zero;
          s = dots16<float, kNd>(qr.qc, keys, dp) * p.scale;
        }
        if (p.add_mask) {
          F16 add = lanes::splat(0.0f);
          for (int t = 0; t < kLanes; ++t)
            if (vis[r][jb + t]) add[t] = p.add_mask[qr.moff + (j0 + jb + t) * p.ms[3]];
          s = s + add;
        }
        B16 live8;
        std::memcpy(&live8, vis[r] + jb, sizeof live8);
        s = __builtin_convertvector(live8, lanes::I16) != 0 ? s : lanes::splat(neg_inf);
        mvec[r] = lanes::max16(mvec[r], s);
        lanes::store16(work + r * kSplit + jb, s);
      }
    }
    // split max, exponentials, split sum
    float m[R], l[R];
    for (int r = 0; r < R; ++r) {
      m[r] = lanes::tree_max(mvec[r]);
      F16 lsum = lanes::splat(0.0f);
      for (int64_t jb = 0; jb < rows[r].n; jb += kLanes) {
        float* sc = work + r * kSplit + jb;
        const F16 e = lanes::exp16(lanes::load16(sc) - m[r]);
        lsum += e;
        lanes::store16(sc, e);
      }
      l[r] = lanes::tree_sum(lsum);
    }
    // acc = sum of p_j v_j over visible j, increasing j, per row
    // (from the values transpose_keys widened, if it did: bf16 with kt)
    F16 acc[R][kChunks] = {};
    // always inline: a lambda not inlined is compiled for the baseline ISA,
    // outside this function's target (at -O1, the sanitizer builds: fmaf
    // calls into libm, 300x slower)
    auto pv = [&](const auto* base, const int64_t* off) LOCKSTEP_LANES_INLINE_LAMBDA {
      using V = std::remove_cv_t<std::remove_pointer_t<decltype(base)>>;
      int64_t jj = 0;
      if constexpr (kNd > 0) jj = pv_every_row<V, kNd, R>(acc, base, off, work, common);
      for (; jj < nmax; ++jj) {
        F16 vv[kChunks];
        load_row<V, kNd>(vv, base + off[jj], Dv);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          if (jj >= rows[r].n || !vis[r][jj]) continue;
          fma_row<kNd>(acc[r], lanes::splat(work[r * kSplit + jj]), vv, ndv);
        }
      }
    };
    if (vwb != nullptr) {
      for (int64_t jj = 0; jj < nmax; ++jj) koff[jj] = (j0 + jj) * Dv;  // koff is free: reuse it
      pv(vwb, koff);
    } else {
      pv(vb, voff);
    }
    // combine with the earlier splits
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      QueryRow<T, kChunks>& qr = rows[r];
      if (qr.n == 0) continue;
      const bool first = !qr.any;
      const float Mn = first || m[r] > qr.M ? m[r] : qr.M;
      const float a = first ? 0.0f : lanes::exp1(qr.M - Mn), bsc = first ? 1.0f : lanes::exp1(m[r] - Mn);
      qr.L = first ? l[r] : qr.L * a + l[r] * bsc;
      rescale_add<kNd>(qr.total, acc[r], first, a, bsc, ndv);
      qr.M = Mn;
      qr.any = true;
    }
  }

  LOCKSTEP_LANES_INLINE void end(const Problem& p) const {
    const int64_t Dv = p.Dv;
    const int64_t ndv = kNd > 0 ? kNd : (Dv + kLanes - 1) / kLanes;
    for (int r = 0; r < nr; ++r) {
      const QueryRow<T, kChunks>& qr = rows[r];
      for (int64_t c = 0; c < ndv; ++c) {
        const F16 o = qr.any ? qr.total[c] / qr.L : lanes::splat(0.0f);
        if ((c + 1) * kLanes <= Dv)
          lanes::store16(qr.out + c * kLanes, o);
        else
          lanes::store_tail(qr.out + c * kLanes, o, Dv - c * kLanes);
      }
    }
  }
};

// Bundle size: enough independent fma chains to hide the fma latency,
// few enough that the accumulators stay in registers.
constexpr int bundle_rows(int nd) { return nd == 4 ? 4 : 2; }

// Bundles run in tiles of up to kTile: the tile's bundles take split 0,
// then split 1, ... (each bundle's splits still in increasing order), so
// that a split's K and V, read from memory once, serve the whole tile from
// L2. Consecutive bundles mostly share their kv head (dense: consecutive
// queries of one head; paged: the tokens of one sequence, a few kv heads).
constexpr int kTile = 16;

// Rows [row0, row1) of the flattened (b, h, i) index, cut into bundles of
// consecutive rows with the same b and kv head.
template <class T, int kNd>
LOCKSTEP_LANES_INLINE void attention_rows_body(const Problem& p, int64_t row0, int64_t row1, float* work) {
  constexpr int R = bundle_rows(kNd);
  static_assert(R <= kMaxBundle, "work holds kMaxBundle splits of scores");
  const int64_t group = p.Hq / p.Hkv;
  auto kv_of = [&](int64_t row) LOCKSTEP_LANES_INLINE_LAMBDA {
    if (p.paged.tables != nullptr) return row / group;  // (token, kv head)
    const int64_t b = row / (p.Tq * p.Hq), h = (row / p.Tq) % p.Hq;
    return b * p.Hkv + h / group;
  };
  std::vector<Bundle<T, kNd, R>> tile(static_cast<size_t>(std::min<int64_t>(kTile, row1 - row0)));
  for (int64_t row = row0; row < row1;) {
    int n = 0;
    int64_t kmax = 0;
    for (; n < static_cast<int>(tile.size()) && row < row1; ++n) {
      int nr = 1;
      while (nr < R && row + nr < row1 && kv_of(row + nr) == kv_of(row)) ++nr;
      tile[n].begin(p, row, nr);
      kmax = std::max(kmax, tile[n].kmax);
      row += nr;
    }
    for (int64_t j0 = 0; j0 < kmax; j0 += kSplit)
      for (int t = 0; t < n; ++t)
        if (j0 < tile[t].kmax) tile[t].split(p, j0, work);
    for (int t = 0; t < n; ++t) tile[t].end(p);
  }
}

#define LOCKSTEP_ATTENTION_ARGS (const Problem& p, int64_t r0, int64_t r1, float* work)
// Head dims of 64 and 128 (D == Dv), the same definition with the chunk
// count known to the compiler (accumulators in registers); AVX-512 and AVX2
// only, as the baseline path is a fallback, not a fast path.
#define LOCKSTEP_ATTENTION_FIXED(NAME, T, ND)                                                             \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))) void NAME##_avx512 LOCKSTEP_ATTENTION_ARGS { \
    attention_rows_body<T, ND>(p, r0, r1, work);                                                          \
  }                                                                                                       \
  __attribute__((target("avx2,fma"))) void NAME##_avx2 LOCKSTEP_ATTENTION_ARGS {                          \
    attention_rows_body<T, ND>(p, r0, r1, work);                                                          \
  }
// One dtype's entry points: any head dim on every ISA, and 64 and 128.
#define LOCKSTEP_ATTENTION_DTYPE(NAME, T)                                                                 \
  LOCKSTEP_LANES_DISPATCH(void, NAME##_any, LOCKSTEP_ATTENTION_ARGS, (p, r0, r1, work),                 \
                          (attention_rows_body<T, 0>(p, r0, r1, work)))                                 \
  LOCKSTEP_ATTENTION_FIXED(NAME##_d64, T, 4)                                                              \
  LOCKSTEP_ATTENTION_FIXED(NAME##_d128, T, 8)                                                             \
  void NAME(const Problem& p, int64_t d, bool avx512, int64_t r0, int64_t r1, float* work) {              \
    if (d == 64) return avx512 ? NAME##_d64_avx512(p, r0, r1, work) : NAME##_d64_avx2(p, r0, r1, work);  \
    if (d == 128) return avx512 ? NAME##_d128_avx512(p, r0, r1, work) : NAME##_d128_avx2(p, r0, r1, work); \
    return NAME##_any(p, r0, r1, work);                                                                   \
  }
#ifndef LOCKSTEP_ATTENTION_BF16
LOCKSTEP_ATTENTION_DTYPE(attention_f32, float)
#else
LOCKSTEP_ATTENTION_DTYPE(attention_bf16_rows, BF16)
#endif
#undef LOCKSTEP_ATTENTION_DTYPE
#undef LOCKSTEP_ATTENTION_FIXED
#undef LOCKSTEP_ATTENTION_ARGS

}  // namespace

namespace attention {

// The bf16 instantiations compile in cpu/attention_bf16.cpp (this file again, with
// LOCKSTEP_ATTENTION_BF16), so that the two halves of ~60 s at -O3 build in parallel.
void run_rows_bf16(const Problem& p, int64_t d, bool avx512, int64_t r0, int64_t r1, float* work);

#ifndef LOCKSTEP_ATTENTION_BF16
int64_t work_floats() { return kMaxBundle * kSplit + (kLanes + 1) * kMaxChunks * kLanes; }

void run_rows(const Problem& p, bool bf16, int64_t r0, int64_t r1, float* work) {
  using lanes::Isa;
  const Isa isa = lanes::active_isa();
  const int64_t d = isa == Isa::baseline || p.D != p.Dv ? 0 : p.D;
  const bool avx512 = isa == Isa::avx512;
  if (bf16) return run_rows_bf16(p, d, avx512, r0, r1, work);
  return attention_f32(p, d, avx512, r0, r1, work);
}

void run_rows_parallel(const Problem& p, bool bf16, int64_t rows) {
  // cost[0, row): a row costs the keys it sees times (D + Dv) multiply-adds,
  // plus a fixed part (its bundle's set-up and combine, worth ~16 keys).
  std::vector<int64_t> prefix(static_cast<size_t>(rows) + 1, 0);
  for (int64_t row = 0; row < rows; ++row) {
    const RowPlace at = place(p, row);
    prefix[row + 1] = prefix[row] + (at.kmax - at.kmin + 16) * (p.D + p.Dv);
  }
  const int64_t total = prefix.back();
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), std::max<int64_t>(1, total >> 16));
  // One contiguous range per thread, thread t's starting where the running
  // cost reaches t / threads of the total: a causal prefill's late rows see
  // the most keys, so equal row counts would leave the last thread the most work.
  auto start = [&](int64_t t) {
    return std::lower_bound(prefix.begin(), prefix.end(), t, [&](int64_t c, int64_t tt) {
             return c * threads < total * tt;
           }) - prefix.begin();
  };
  at::parallel_for(0, threads, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> work(static_cast<size_t>(work_floats()));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = start(t), r1 = t + 1 == threads ? rows : start(t + 1);
      if (r0 < r1) run_rows(p, bf16, r0, r1, work.data());
    }
  });
}
#else
void run_rows_bf16(const Problem& p, int64_t d, bool avx512, int64_t r0, int64_t r1, float* work) {
  attention_bf16_rows(p, d, avx512, r0, r1, work);
}
#endif

}  // namespace attention
}  // namespace lockstep::kernels::cpu

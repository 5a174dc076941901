// The vector building blocks of the CPU attention kernel (attention.cpp):
// 16-key dot products in THE ORDER (from key rows, or from keys transposed
// by transpose_keys), value-row fmas, and the split combine. Internal to
// attention.cpp; every function is inlined into its ISA-specific copies.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/cpu/attention_problem.h"
#include "kernels/cpu/lanes.h"
#include "kernels/splits.h"

namespace lockstep::kernels::cpu::attention_blocks {

using lanes::F16;
using lanes::kLanes;

template <class T>
LOCKSTEP_LANES_INLINE F16 load_chunk(const T* row, int64_t at, int64_t len) {
  return at + kLanes <= len ? lanes::load16(row + at) : lanes::load_tail(row + at, len - at, 0.0f);
}

// tree_sum of 16 vectors at once: out[t] = tree_sum(acc[t]). Each step adds
// lane l and lane l + w of every vector, exactly as lanes::tree_sum, with
// shuffles gathering the two halves of two vectors into one vector.
LOCKSTEP_LANES_INLINE F16 tree_sum16(const F16* acc) {
  F16 s8[8], s4[4], s2[2];
  for (int u = 0; u < 8; ++u) {
    const F16 a = acc[2 * u], b = acc[2 * u + 1];
    s8[u] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
            __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  }
  for (int u = 0; u < 4; ++u) {
    const F16 a = s8[2 * u], b = s8[2 * u + 1];
    s4[u] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
            __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  }
  for (int u = 0; u < 2; ++u) {
    const F16 a = s4[2 * u], b = s4[2 * u + 1];
    s2[u] = __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
            __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  }
  return __builtin_shufflevector(s2[0], s2[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         __builtin_shufflevector(s2[0], s2[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// Head dims up to 16 chunks of 16 (256) keep their accumulators on the stack.
constexpr int64_t kMaxChunks = 16;
static_assert(kMaxChunks * kLanes == attention::kMaxHeadDim, "the head dims the entry points accept");
// Rows computed together (see attention_bundle).
constexpr int kMaxBundle = 4;

// Loops over the 16-float chunks of a head dim. With kNd > 0 (D = 16 kNd
// known to the compiler) they unroll, so the accumulators live in
// registers; otherwise (any D, a zero-padded tail chunk) they stay loops,
// which keeps the generic variant's code small.
template <class T, int kNd>
LOCKSTEP_LANES_INLINE F16 dot_key(const F16* qc, const T* k, int64_t D) {
  F16 acc = lanes::splat(0.0f);
  if constexpr (kNd > 0) {
#pragma GCC unroll 16
    for (int64_t c = 0; c < kNd; ++c) acc = lanes::fma16(qc[c], lanes::load16(k + c * kLanes), acc);
  } else {
    for (int64_t c = 0; c * kLanes < D; ++c) acc = lanes::fma16(qc[c], load_chunk(k, c * kLanes, D), acc);
  }
  return acc;
}

// splat(*p) as one broadcast load where it is used: through a pointer the
// compiler cannot see into, as otherwise GCC hoists loop-invariant
// broadcasts out of the key loops (64 R vectors, spilled and reloaded) or
// loads 64 misaligned bytes to broadcast their first float.
LOCKSTEP_LANES_INLINE F16 broadcast(const float* p) {
  asm("" : "+r"(p));
  return lanes::splat(*p);
}

// A value row's chunks are loaded (and widened) once by load_row, then
// feed every row of the bundle through fma_row (acc += p * v, one fma per
// element).
template <class T, int kNd>
LOCKSTEP_LANES_INLINE void load_row(F16* vv, const T* v, int64_t Dv) {
  if constexpr (kNd > 0) {
#pragma GCC unroll 16
    for (int64_t c = 0; c < kNd; ++c) vv[c] = lanes::load16(v + c * kLanes);
  } else {
    for (int64_t c = 0; c * kLanes < Dv; ++c) vv[c] = load_chunk(v, c * kLanes, Dv);
  }
}

template <int kNd>
LOCKSTEP_LANES_INLINE void fma_row(F16* acc, F16 p, const F16* vv, int64_t ndv) {
  if constexpr (kNd > 0) {
#pragma GCC unroll 16
    for (int64_t c = 0; c < kNd; ++c) acc[c] = lanes::fma16(p, vv[c], acc[c]);
  } else {
    for (int64_t c = 0; c < ndv; ++c) acc[c] = lanes::fma16(p, vv[c], acc[c]);
  }
}

// acc[r] += p_rj v_j for keys j < n that every row of the bundle sees, in
// increasing j: the checked loop's operations without its per-row tests,
// the accumulators in registers. Returns n.
template <class T, int kNd, int R>
LOCKSTEP_LANES_INLINE int64_t pv_every_row(F16 (*acc)[kNd], const T* vb, const int64_t* voff, const float* p,
                                           int64_t n) {
  F16 a[R][kNd];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < kNd; ++c) a[r][c] = acc[r][c];
  for (int64_t j = 0; j < n; ++j) {
    F16 vv[kNd];
    load_row<T, kNd>(vv, vb + voff[j], kNd * kLanes);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) fma_row<kNd>(a[r], broadcast(p + r * kKvSplit + j), vv, kNd);
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < kNd; ++c) acc[r][c] = a[r][c];
  return n;
}

// total = total * a + acc * b (first split: total = acc).
template <int kNd>
LOCKSTEP_LANES_INLINE void rescale_add(F16* total, const F16* acc, bool first, float a, float b, int64_t nc) {
  if constexpr (kNd > 0) {
#pragma GCC unroll 16
    for (int64_t c = 0; c < kNd; ++c) total[c] = first ? acc[c] : total[c] * a + acc[c] * b;
  } else {
    for (int64_t c = 0; c < nc; ++c) total[c] = first ? acc[c] : total[c] * a + acc[c] * b;
  }
}

// dot(q, k_t) for 16 keys, in THE ORDER over D: lane l of dot t
// accumulates fma(q[d], k_t[d], .) for d = l (mod 16) in increasing d; then
// the lane tree of all 16 at once. One key at a time, so one live pointer.
template <class T, int kNd>
LOCKSTEP_LANES_INLINE F16 dots16(const F16* qc, const T* const* keys, int64_t D) {
  F16 dots[kLanes];
#pragma GCC unroll 16
  for (int t = 0; t < kLanes; ++t) dots[t] = dot_key<T, kNd>(qc, keys[t], D);
  return tree_sum16(dots);
}

// The same 16 dots from transposed keys (Problem::kt: blk[d * 16 + t] =
// k_t[d]) for R query rows at once: lane l of THE ORDER is one vector over
// the 16 keys, P_l[t] = fma(q[d], k_t[d], .) for d = l (mod 16) in
// increasing d (each column load feeds R rows), and the lane tree becomes
// vector adds over keys: S8_l = P_l + P_{l+8}, S4_l = S8_l + S8_{l+4},
// S2_l = S4_l + S4_{l+2}, dot = S2_0 + S2_1 — the pairs tree_sum16 adds, so
// the same bits, without shuffles.
template <int kNd, int R>
struct TransposedDots {
  const float* blk;
  const float (*q)[kNd * kLanes];

  LOCKSTEP_LANES_INLINE void lane(int l, F16* P) const {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) P[r] = lanes::splat(0.0f);
#pragma GCC unroll 16
    for (int c = 0; c < kNd; ++c) {
      const F16 col = lanes::load16(blk + (c * kLanes + l) * kLanes);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        P[r] = lanes::fma16(broadcast(&q[r][c * kLanes + l]), col, P[r]);
      }
    }
  }
  // S_w(l): the tree's node over lanes l, l + w, l + 2w, ... (w = 8: a pair).
  template <int kWidth>
  LOCKSTEP_LANES_INLINE void node(int l, F16* S) const {
    F16 a[R], b[R];
    if constexpr (kWidth == 8) {
      lane(l, a);
      lane(l + 8, b);
    } else {
      node<kWidth * 2>(l, a);
      node<kWidth * 2>(l + kWidth, b);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) S[r] = a[r] + b[r];
  }
  LOCKSTEP_LANES_INLINE void dots(F16* out) const { node<1>(0, out); }
};

}  // namespace lockstep::kernels::cpu::attention_blocks

// AVX-512 GEMM micro-kernels. One zmm register holds the 16 lanes of one
// output element (THE ORDER, gemm_kernel.h), so the k loop is a plain
// stream of fmas, and a register tile of MR rows of A x NR rows of B keeps
// MR * NR <= 16 such accumulators live. The lane tree of 16 elements is
// done together by a transposing shuffle network that adds exactly the pairs
// of the tree. Only the functions marked LOCKSTEP_AVX512 use AVX-512; the
// driver calls them only where __builtin_cpu_supports says so.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/gemm_kernel.h"

// GCC 12's AVX-512 intrinsics build "undefined" vectors as `__m512 __Y = __Y;`,
// which -Wuninitialized reports at every inlined use (GCC bug 105593, fixed
// in GCC 13). The warning says nothing about this file's code.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define LOCKSTEP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))
#define LOCKSTEP_AVX512_INLINE LOCKSTEP_AVX512 __attribute__((always_inline)) inline

namespace lockstep::kernels::cpu::gemm {
namespace {

LOCKSTEP_AVX512_INLINE __m512 widen16(__m256i bf16) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bf16), 16));
}
LOCKSTEP_AVX512_INLINE __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
LOCKSTEP_AVX512_INLINE __m512 load16(const c10::BFloat16* p) {
  return widen16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// Masked-off lanes read as +0, which THE ORDER makes a no-op.
LOCKSTEP_AVX512_INLINE __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
LOCKSTEP_AVX512_INLINE __m512 load16(const c10::BFloat16* p, __mmask16 m) {
  return widen16(_mm256_maskz_loadu_epi16(m, p));
}

// Step 2 of THE ORDER for 16 accumulators at once. Each level adds, for
// every element still open, exactly the pair the tree names (lanes l and
// l + 8, then l and l + 4, l and l + 2, l and l + 1), while packing two
// elements' halves into one register:
//   level 1: acc[2i], acc[2i+1]      -> element 2i in lanes 0-7, 2i+1 in 8-15
//   level 2: 128-bit chunk c of v2[i] -> element 4i + c (4 partials)
//   level 3: chunk c of v3[i]         -> elements 8i + c and 8i + 4 + c (2 each)
//   level 4: chunk c                  -> elements c, 4 + c, 8 + c, 12 + c
// and a final permute puts element o in lane o.
LOCKSTEP_AVX512_INLINE __m512 reduce16(const __m512* acc) {
  __m512 v1[8], v2[4], v3[2];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    const __m512 a = acc[2 * i], b = acc[2 * i + 1];
    v1[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    const __m512 p = v1[2 * i], q = v1[2 * i + 1];
    v2[i] = _mm512_add_ps(_mm512_shuffle_f32x4(p, q, 0x88), _mm512_shuffle_f32x4(p, q, 0xDD));
  }
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i) {
    const __m512d r = _mm512_castps_pd(v2[2 * i]), s = _mm512_castps_pd(v2[2 * i + 1]);
    v3[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(r, s)),
                          _mm512_castpd_ps(_mm512_unpackhi_pd(r, s)));
  }
  const __m512 v4 = _mm512_add_ps(_mm512_shuffle_ps(v3[0], v3[1], 0x88), _mm512_shuffle_ps(v3[0], v3[1], 0xDD));
  const __m512i element_of_lane = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(element_of_lane, v4);
}

// c10::BFloat16's rounding (RNE, NaN -> 0x7FC0) on 16 values.
LOCKSTEP_AVX512_INLINE __m256i round_to_bf16(__m512 r) {
  const __m512i bits = _mm512_castps_si512(r);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF))), 16);
  rounded = _mm512_mask_mov_epi32(rounded, _mm512_cmp_ps_mask(r, r, _CMP_UNORD_Q), _mm512_set1_epi32(0x7FC0));
  return _mm512_cvtepi32_epi16(rounded);
}

// Step 3 of THE ORDER for `valid` consecutive elements of one output row,
// held in lanes 0.. of `dot`: the same multiply, add and rounding as
// store_result(), sixteen at a time.
LOCKSTEP_AVX512_INLINE void store_row(const Problem& p, int64_t m, int64_t n, int valid, __m512 dot) {
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1u);
  __m512 r = _mm512_mul_ps(_mm512_set1_ps(p.alpha), dot);
  if (p.bias != nullptr) {
    const int64_t at = m * p.bias_sm + n * p.bias_sn;
    __m512 bias;
    if (p.bias_sn == 1) {
      bias = p.out_bf16 ? load16(static_cast<const c10::BFloat16*>(p.bias) + at, mask)
                    : load16(static_cast<const float*>(p.bias) + at, mask);
    } else if (p.bias_sn == 0) {
      bias = _mm512_set1_ps(p.out_bf16 ? widen(static_cast<const c10::BFloat16*>(p.bias)[at])
                                   : static_cast<const float*>(p.bias)[at]);
    } else {
      alignas(64) float dots[kLanes];
      _mm512_store_ps(dots, dot);
      for (int j = 0; j < valid; ++j) store_result(p, m, n + j, dots[j]);
      return;
    }
    r = _mm512_add_ps(r, _mm512_mul_ps(_mm512_set1_ps(p.beta), bias));
  }
  if (p.out_bf16) {
    _mm256_mask_storeu_epi16(static_cast<c10::BFloat16*>(p.c) + m * p.ldc + n, mask, round_to_bf16(r));
  } else {
    _mm512_mask_storeu_ps(static_cast<float*>(p.c) + m * p.ldc + n, mask, r);
  }
}

// C[m:m+MR, n:n+valid]. Columns past `valid` reuse the last valid row of B
// (their results are dropped), so the edge needs no separate kernel.
template <typename T, int MR, int NR>
LOCKSTEP_AVX512 void tile(const Problem& p, int64_t m, int64_t n, int valid) {
  static_assert(MR * NR <= kLanes, "one zmm accumulator per output element");
  const T* a[MR];
  const T* b[NR];
  for (int i = 0; i < MR; ++i) a[i] = static_cast<const T*>(p.a) + (m + i) * p.lda;
  for (int j = 0; j < NR; ++j) b[j] = static_cast<const T*>(p.b) + (n + (j < valid ? j : valid - 1)) * p.ldb;

  __m512 acc[kLanes];
#pragma GCC unroll 16
  for (int e = 0; e < kLanes; ++e) acc[e] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + kLanes <= p.K; k += kLanes) {
    __m512 av[MR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) av[i] = load16(a[i] + k);
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) {
      const __m512 bv = load16(b[j] + k);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) acc[i * NR + j] = _mm512_fmadd_ps(av[i], bv, acc[i * NR + j]);
    }
  }
  if (k < p.K) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (p.K - k)) - 1u);
    __m512 av[MR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) av[i] = load16(a[i] + k, tail);
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) {
      const __m512 bv = load16(b[j] + k, tail);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) acc[i * NR + j] = _mm512_fmadd_ps(av[i], bv, acc[i * NR + j]);
    }
  }
  const __m512 dots = reduce16(acc);  // lane i * NR + j = C[m + i][n + j]
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) {
    const __m512i row_start = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                               _mm512_set1_epi32(i * NR));
    store_row(p, m + i, n, valid, _mm512_permutexvar_ps(row_start, dots));
  }
}

template <typename T, int MR, int NR>
LOCKSTEP_AVX512 void rows(const Problem& p, int64_t m, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; n += NR) {
    tile<T, MR, NR>(p, m, n, static_cast<int>(n1 - n < NR ? n1 - n : NR));
  }
}

// Part `i` of `parts` of B rows [n, min(n + 4, n1)) into L2 (a hint).
template <typename T>
LOCKSTEP_AVX512_INLINE void prefetch_tile(const Problem& p, int64_t n, int64_t n1, int64_t i, int64_t parts) {
  const int64_t row_lines = (p.K * static_cast<int64_t>(sizeof(T)) + 63) / 64;
  const int64_t lines = std::max<int64_t>(0, std::min<int64_t>(4, n1 - n)) * row_lines;
  const int64_t per = (lines + parts - 1) / parts, end = std::min(lines, (i + 1) * per);
  int64_t l = i * per, r = l / row_lines, c = l - r * row_lines;
  for (; l < end; ++l) {
    _mm_prefetch(reinterpret_cast<const char*>(static_cast<const T*>(p.b) + (n + r) * p.ldb) + c * 64, _MM_HINT_T1);
    if (++c == row_lines) c = 0, ++r;
  }
}

// Row groups of 4 use the 4x4 tile; a remainder of 3, 2 or 1 rows (and a
// GEMV, M = 1) gets a wider tile so 15-16 accumulators stay busy.
// The 4x4 tiles run columns outer, row groups inner, so four rows of B (one
// tile's, 9 KB at K = 576) are read from memory once and then serve every
// row group from L1, and each row group prefetches its share of the next
// tile's rows: a decode block (M = 8..32, weights cold in DRAM) streams its
// weights while its FMAs run. Row groups outer streamed the whole panel in
// the first group (the FMAs waiting on DRAM) and ran the other groups from
// L2 (DRAM idle): the SmolLM2 decode step's GEMMs at M = 32 took 50.5-56.9
// ms against 46.9-47.5 (mm_f32/decode_step_cold in lockstep_bench_cpu).
// Blocks of more row groups (prefill) reuse each panel of B from L2 many
// times anyway and run 3-10% faster row groups outer, their A rows in L1.
constexpr int64_t kColumnsOuterGroups = 8;

template <typename T>
LOCKSTEP_AVX512 void run(const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t m = m0 + (m1 - m0) / 4 * 4, groups = (m - m0) / 4;
  if (groups > kColumnsOuterGroups) {
    for (int64_t g = m0; g < m; g += 4) rows<T, 4, 4>(p, g, n0, n1);
  } else {
    for (int64_t n = n0; n < n1 && groups > 0; n += 4) {
      const int valid = static_cast<int>(n1 - n < 4 ? n1 - n : 4);
      for (int64_t i = 0; i < groups; ++i) {
        prefetch_tile<T>(p, n + 4, n1, i, groups);
        tile<T, 4, 4>(p, m0 + 4 * i, n, valid);
      }
    }
  }
  switch (m1 - m) {
    case 3: rows<T, 3, 5>(p, m, n0, n1); break;
    case 2: rows<T, 2, 8>(p, m, n0, n1); break;
    case 1: rows<T, 1, 16>(p, m, n0, n1); break;
    default: break;
  }
}

}  // namespace

void run_block_avx512(const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  with_input_type(p, [&](auto element) { run<decltype(element)>(p, m0, m1, n0, n1); });
}

}  // namespace lockstep::kernels::cpu::gemm

// AVX2 + FMA GEMM micro-kernels, for x86 CPUs without AVX-512. The 16 lanes
// of THE ORDER (gemm_kernel.h) are two ymm registers per output element:
// `lo` holds lanes 0-7, `hi` lanes 8-15, so the first level of the lane tree
// is simply lo + hi. With 16 ymm registers a tile keeps 6 elements live.
#include <immintrin.h>

#include "kernels/cpu/gemm_kernel.h"

#define LOCKSTEP_AVX2 __attribute__((target("avx2,fma")))
#define LOCKSTEP_AVX2_INLINE LOCKSTEP_AVX2 __attribute__((always_inline)) inline

namespace lockstep::kernels::cpu::gemm {
namespace {

LOCKSTEP_AVX2_INLINE __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
LOCKSTEP_AVX2_INLINE __m256 load8(const c10::BFloat16* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// Step 2 of THE ORDER: (l, l+8), then (l, l+4), (l, l+2), (0, 1).
LOCKSTEP_AVX2_INLINE float reduce(__m256 lo, __m256 hi) {
  const __m256 s = _mm256_add_ps(lo, hi);
  const __m128 t = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  const __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));
  return _mm_cvtss_f32(_mm_add_ss(u, _mm_shuffle_ps(u, u, 1)));
}

template <typename T, int MR, int NR>
LOCKSTEP_AVX2_INLINE void step(const T* const* a, const T* const* b, int64_t k, __m256* lo, __m256* hi) {
  __m256 av[MR];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) av[i] = load8(a[i] + k);
#pragma GCC unroll 8
  for (int j = 0; j < NR; ++j) {
    const __m256 bv = load8(b[j] + k);
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) lo[i * NR + j] = _mm256_fmadd_ps(av[i], bv, lo[i * NR + j]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) av[i] = load8(a[i] + k + 8);
#pragma GCC unroll 8
  for (int j = 0; j < NR; ++j) {
    const __m256 bv = load8(b[j] + k + 8);
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) hi[i * NR + j] = _mm256_fmadd_ps(av[i], bv, hi[i * NR + j]);
  }
}

// C[m:m+MR, n:n+valid]; columns past `valid` reuse the last valid B row.
template <typename T, int MR, int NR>
LOCKSTEP_AVX2 void tile(const Problem& p, int64_t m, int64_t n, int valid) {
  const T* a[MR];
  const T* b[NR];
  for (int i = 0; i < MR; ++i) a[i] = static_cast<const T*>(p.a) + (m + i) * p.lda;
  for (int j = 0; j < NR; ++j) b[j] = static_cast<const T*>(p.b) + (n + (j < valid ? j : valid - 1)) * p.ldb;

  __m256 lo[MR * NR], hi[MR * NR];
  for (int e = 0; e < MR * NR; ++e) lo[e] = hi[e] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + kLanes <= p.K; k += kLanes) step<T, MR, NR>(a, b, k, lo, hi);
  if (k < p.K) {
    // The tail runs through zero-padded copies: +0 terms are no-ops.
    T a_tail[MR][kLanes] = {};
    T b_tail[NR][kLanes] = {};
    const T* a_ptr[MR];
    const T* b_ptr[NR];
    for (int i = 0; i < MR; ++i) {
      for (int64_t t = 0; t < p.K - k; ++t) a_tail[i][t] = a[i][k + t];
      a_ptr[i] = a_tail[i];
    }
    for (int j = 0; j < NR; ++j) {
      for (int64_t t = 0; t < p.K - k; ++t) b_tail[j][t] = b[j][k + t];
      b_ptr[j] = b_tail[j];
    }
    step<T, MR, NR>(a_ptr, b_ptr, 0, lo, hi);
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < valid; ++j) store_result(p, m + i, n + j, reduce(lo[i * NR + j], hi[i * NR + j]));
  }
}

template <typename T, int MR, int NR>
LOCKSTEP_AVX2 void rows(const Problem& p, int64_t m, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; n += NR) {
    tile<T, MR, NR>(p, m, n, static_cast<int>(n1 - n < NR ? n1 - n : NR));
  }
}

template <typename T>
LOCKSTEP_AVX2 void run(const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  int64_t m = m0;
  for (; m + 2 <= m1; m += 2) rows<T, 2, 3>(p, m, n0, n1);
  if (m < m1) rows<T, 1, 6>(p, m, n0, n1);
}

}  // namespace

void run_block_avx2(const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  with_input_type(p, [&](auto element) { run<decltype(element)>(p, m0, m1, n0, n1); });
}

}  // namespace lockstep::kernels::cpu::gemm

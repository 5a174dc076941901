// Portable mode's math: one definition of every transcendental function the
// portable kernels use, compiled unchanged for the CPU (C++) and for CUDA
// (nvcc, __host__ __device__), built only from IEEE operations that are
// correctly rounded on both — +, -, *, explicit fmaf, division and sqrt
// (correctly rounded: C++ on x86-64/SSE, and __fdiv_rn/__fsqrt_rn on CUDA) —
// plus exact integer/bit operations and floor. With floating-point
// contraction off (-ffp-contract=off, nvcc --fmad=false) every function gives
// the same bits on an x86 CPU and an NVIDIA GPU. Accuracy (tests/kernels/
// portable_math_test.cpp, against float64): p_exp, p_log, p_tanh within 2 ulp.
//
// The double-precision helpers at the end make the RoPE tables (host only:
// computed once, so both sides use the same table bits); d_exp also serves
// seeded sampling on both sides (kernels/token_choice.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#if defined(__CUDACC__)
#define LS_HD __host__ __device__ __forceinline__
#else
#define LS_HD inline
#endif

namespace lockstep::kernels::portable {

// The bits of a value as another type of the same size (C++20's std::bit_cast):
// memcpy, a register move on the host and on CUDA alike.
template <class To, class From>
LS_HD To bits_as(From x) {
  static_assert(sizeof(To) == sizeof(From), "bits_as: the sizes differ");
  To to;
  memcpy(&to, &x, sizeof to);
  return to;
}

LS_HD float bits_to_float(uint32_t u) { return bits_as<float>(u); }
LS_HD uint32_t float_to_bits(float f) { return bits_as<uint32_t>(f); }
LS_HD double bits_to_double(uint64_t u) { return bits_as<double>(u); }

LS_HD float p_fma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

LS_HD float p_div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

LS_HD float p_sqrt(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

LS_HD float p_floor(float a) {
#if defined(__CUDA_ARCH__)
  return floorf(a);
#else
  return std::floor(a);
#endif
}

LS_HD bool p_isnan(float x) { return x != x; }

// 2^k for k in [-252, 254] as two exact power-of-two factors applied one after the other
// (a single factor cannot reach the denormal range).
LS_HD float scale_by_pow2(float x, int k) {
  const int k1 = k / 2;
  const int k2 = k - k1;
  return (x * bits_to_float(static_cast<uint32_t>(k1 + 127) << 23)) *
         bits_to_float(static_cast<uint32_t>(k2 + 127) << 23);
}

// e^x: x = k ln2 + r (k = floor(x log2e + 1/2), ln2 in two parts so k*ln2_hi is exact),
// a degree-7 Taylor polynomial of e^r for |r| <= ln2/2 in Horner form with fma, then * 2^k.
LS_HD float p_exp(float x) {
  if (p_isnan(x)) return x;
  if (x > 88.72283935546875f) return bits_to_float(0x7f800000u);   // +inf
  if (x < -103.972084045410156f) return 0.0f;
  const float k = p_floor(x * 1.44269502162933349609375f + 0.5f);
  float r = p_fma(k, -0x1.62e4p-1f, x);          // ln2_hi = 0.693145751953125
  r = p_fma(k, -0x1.7f7d1cp-20f, r);             // ln2_lo
  float p = 0x1.a01a02p-13f;                     // 1/5040
  p = p_fma(p, r, 0x1.6c16c2p-10f);              // 1/720
  p = p_fma(p, r, 0x1.111112p-7f);               // 1/120
  p = p_fma(p, r, 0x1.555556p-5f);               // 1/24
  p = p_fma(p, r, 0x1.555556p-3f);               // 1/6
  p = p_fma(p, r, 0.5f);
  p = p_fma(p, r, 1.0f);
  p = p_fma(p, r, 1.0f);
  return scale_by_pow2(p, static_cast<int>(k));
}

// ln x: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = (m-1)/(m+1), an odd
// series in s to s^11, plus e ln2 in two parts.
LS_HD float p_log(float x) {
  if (p_isnan(x) || x < 0.0f) return bits_to_float(0x7fc00000u);   // nan
  if (x == 0.0f) return bits_to_float(0xff800000u);                  // -inf
  if (x == bits_to_float(0x7f800000u)) return x;
  int e = 0;
  if (x < 0x1p-126f) {   // denormal: normalise first
    x = x * 0x1p23f;
    e = -23;
  }
  const uint32_t u = float_to_bits(x);
  e += static_cast<int>((u >> 23) & 0xffu) - 127;
  float m = bits_to_float((u & 0x007fffffu) | 0x3f800000u);   // [1, 2)
  if (m > 1.41421353816986083984375f) {
    m = m * 0.5f;
    e += 1;
  }
  const float s = p_div(m - 1.0f, m + 1.0f);
  const float s2 = s * s;
  float q = 0x1.745d18p-4f;                // 1/11
  q = p_fma(q, s2, 0x1.c71c72p-4f);        // 1/9
  q = p_fma(q, s2, 0x1.24924ap-3f);        // 1/7
  q = p_fma(q, s2, 0x1.99999ap-3f);        // 1/5
  q = p_fma(q, s2, 0x1.555556p-2f);        // 1/3
  q = p_fma(q, s2, 1.0f);
  const float ln_m = 2.0f * s * q;
  const float ef = static_cast<float>(e);
  return p_fma(ef, 0x1.62e4p-1f, p_fma(ef, 0x1.7f7d1cp-20f, ln_m));
}

// tanh x = sign(x) (1 - 2 / (e^{2|x|} + 1)); an odd polynomial near 0, where that loses digits.
LS_HD float p_tanh(float x) {
  if (p_isnan(x)) return x;
  const float a = x < 0.0f ? -x : x;
  float t;
  if (a < 0.125f) {
    const float a2 = a * a;
    float q = 0.021869488536155203f;          // 62/2835
    q = p_fma(q, a2, -0.053968253968253971f); // -17/315
    q = p_fma(q, a2, 0.13333333333333333f);   // 2/15
    q = p_fma(q, a2, -0.33333333333333333f);  // -1/3
    t = p_fma(a * a2, q, a);
  } else if (a > 9.0f) {
    t = 1.0f;
  } else {
    t = 1.0f - p_div(2.0f, p_exp(2.0f * a) + 1.0f);
  }
  return x < 0.0f ? -t : t;
}

LS_HD float p_sigmoid(float x) { return p_div(1.0f, 1.0f + p_exp(-x)); }
LS_HD float p_silu(float x) { return p_div(x, 1.0f + p_exp(-x)); }
LS_HD float p_rsqrt(float x) { return p_div(1.0f, p_sqrt(x)); }

// ---- double precision ------------------------------------------------------------------------

LS_HD double d_fma(double a, double b, double c) {
#if defined(__CUDA_ARCH__)
  return __fma_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

// e^x in double, the same bits on the host and on CUDA (the RoPE tables, through d_pow, and the
// weights of seeded sampling, kernels/token_choice.h): x = k ln2 + r, ln2 in two parts, a
// degree-13 Taylor polynomial of e^r (|r| <= ln2/2; truncation below 2^-56) in Horner form
// with fma, then * 2^k as two exact power-of-two factors.
LS_HD double d_exp(double x) {
  if (x != x) return x;
  if (x > 709.0) return HUGE_VAL;
  if (x < -745.0) return 0.0;
#if defined(__CUDA_ARCH__)
  const double k = floor(x * 1.4426950408889634 + 0.5);
#else
  const double k = std::floor(x * 1.4426950408889634 + 0.5);
#endif
  double r = d_fma(k, -0x1.62e42fee00000p-1, x);    // ln2 high part (trailing zeros)
  r = d_fma(k, -0x1.a39ef35793c76p-33, r);         // ln2 low part
  constexpr double kInverseFactorials[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                           1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0,
                                           1.0 / 6.0, 0.5, 1.0, 1.0};
  double p = 1.0 / 6227020800.0;   // 1/13!
  for (double c : kInverseFactorials) p = d_fma(p, r, c);
  const int ki = static_cast<int>(k);
  const int k1 = ki / 2, k2 = ki - k1;
  return p * bits_to_double(static_cast<uint64_t>(k1 + 1023) << 52) * bits_to_double(static_cast<uint64_t>(k2 + 1023) << 52);
}

// ---- host-only double precision, for tables made once on the host ----------------------------
#if !defined(__CUDA_ARCH__)

inline double d_log(double x) {
  if (!(x > 0.0)) return x == 0.0 ? -HUGE_VAL : NAN;
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  int e = static_cast<int>((u >> 52) & 0x7ff) - 1023;
  if (e == -1023) return d_log(x * 0x1p54) - 54.0 * 0.6931471805599453;   // denormal
  u = (u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m;
  std::memcpy(&m, &u, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double q = 1.0 / 23.0;
  for (double c : {1.0 / 21.0, 1.0 / 19.0, 1.0 / 17.0, 1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0,
                   1.0 / 5.0, 1.0 / 3.0, 1.0}) {
    q = std::fma(q, s2, c);
  }
  const double ed = static_cast<double>(e);
  return std::fma(ed, 0x1.62e42fee00000p-1, std::fma(ed, 0x1.a39ef35793c76p-33, 2.0 * s * q));
}

inline double d_pow(double base, double exponent) { return d_exp(exponent * d_log(base)); }

// sin and cos of x (|x| up to ~1e6): x = k pi/2 + r, pi/2 in three parts, |r| <= pi/4,
// Taylor series of sin r and cos r to degree 17/18, then the quadrant.
inline void d_sincos(double x, double* s, double* c) {
  const double k = std::floor(x * 0.6366197723675814 + 0.5);
  double r = std::fma(k, -0x1.921fb54400000p+0, x);
  r = std::fma(k, -0x1.0b4611a600000p-34, r);
  r = std::fma(k, -0x1.3198a2e037073p-69, r);
  const double r2 = r * r;
  double sp = 1.0 / 355687428096000.0;   // Horner in r^2 from r^16/17! down to 1
  for (double coef : {-1.0 / 1307674368000.0, 1.0 / 6227020800.0, -1.0 / 39916800.0, 1.0 / 362880.0,
                      -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0, 1.0}) {
    sp = std::fma(sp, r2, coef);
  }
  double cp = -1.0 / 6402373705728000.0;   // from -r^18/18! down to 1
  for (double coef : {1.0 / 20922789888000.0, -1.0 / 87178291200.0, 1.0 / 479001600.0, -1.0 / 3628800.0,
                      1.0 / 40320.0, -1.0 / 720.0, 1.0 / 24.0, -0.5, 1.0}) {
    cp = std::fma(cp, r2, coef);
  }
  const double sin_r = r * sp;
  const double cos_r = cp;
  const int64_t quadrant = static_cast<int64_t>(k) & 3;
  switch (quadrant) {
    case 0: *s = sin_r; *c = cos_r; break;
    case 1: *s = cos_r; *c = -sin_r; break;
    case 2: *s = -sin_r; *c = -cos_r; break;
    default: *s = -cos_r; *c = sin_r; break;
  }
}

#endif

}  // namespace lockstep::kernels::portable

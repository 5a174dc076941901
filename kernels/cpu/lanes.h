// The 16-lane reduction order shared by lockstep's CPU row kernels
// (softmax, sums, norms, attention), and the one exp/log they all use.
//
// THE ORDER. A sum over a row x[0..n) runs 16 lanes: lane l adds, in
// increasing index, the elements with index = l (mod 16), starting from +0.
// The lanes are then folded by a fixed pairwise tree: a[l] += a[l + 8]
// (l < 8), a[l] += a[l + 4] (l < 4), a[l] += a[l + 2] (l < 2), a[0] += a[1].
// A sum of products is one fma per element (acc_l = fma(x, y, acc_l), as in
// the GEMM); a plain sum is one add. (Maxima are exact: see row_max.)
// The order depends on n only: not on the number of rows, the thread that
// runs the row, or the ISA. Elements that contribute exactly +0 (masked
// keys, the zero padding of a tail) change nothing, because a lane that
// starts at +0 never becomes -0 and x + (+0) == x for every other x.
//
// HOW. F16 is a GCC vector of 16 floats. Kernels are written once, as
// always-inline bodies over F16, and compiled three times by
// LOCKSTEP_LANES_DISPATCH under different target attributes: AVX-512 (one
// zmm per F16), AVX2+FMA (two ymm), and the x86-64 baseline (four xmm, fma
// through libm's correctly rounded fmaf). Every F16 operation is an IEEE
// per-element operation, so each variant computes the same bits; the
// global -march stays the baseline and the variant is chosen at run time.
#pragma once

#include <c10/util/BFloat16.h>

#include <cstdint>
#include <cstring>

// GCC notes that passing a 64-byte vector by value "changes the ABI" when
// the function is compiled without AVX-512. Every F16 helper below is
// always-inline, so no F16 ever crosses a real call; the note is noise for
// this header and the kernels that include it.
#pragma GCC diagnostic ignored "-Wpsabi"

#define LOCKSTEP_LANES_INLINE inline __attribute__((always_inline))
// A lambda's operator() is its own function: it joins a dispatch variant's
// target only when inlined into it.
#define LOCKSTEP_LANES_INLINE_LAMBDA __attribute__((always_inline))

namespace lockstep::kernels::cpu::lanes {

constexpr int kLanes = 16;

typedef float F16 __attribute__((vector_size(64)));
typedef int32_t I16 __attribute__((vector_size(64)));
typedef uint32_t U16 __attribute__((vector_size(64)));
typedef uint16_t H16 __attribute__((vector_size(32)));  // 16 bf16 bit patterns

enum class Isa { baseline, avx2, avx512 };

// The variant kernels run: the best this CPU supports, unless a test forced
// another with force_isa (only ones the CPU supports are accepted).
Isa active_isa();
bool isa_supported(Isa isa);
const char* isa_name(Isa isa);
// Tests only: run every following kernel call with `isa`; returns false if
// the CPU cannot. reset_isa() returns to the detected best.
bool force_isa(Isa isa);
void reset_isa();

LOCKSTEP_LANES_INLINE F16 splat(float v) {
  F16 r;
  for (int l = 0; l < kLanes; ++l) r[l] = v;
  return r;
}

LOCKSTEP_LANES_INLINE F16 load16(const float* p) {
  F16 r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
// bf16 is the top half of an fp32, so widening is exact.
LOCKSTEP_LANES_INLINE F16 load16(const c10::BFloat16* p) {
  H16 h;
  std::memcpy(&h, p, sizeof h);
  U16 u = __builtin_convertvector(h, U16) << 16;
  F16 r;
  std::memcpy(&r, &u, sizeof r);
  return r;
}

LOCKSTEP_LANES_INLINE void store16(float* p, F16 v) { std::memcpy(p, &v, sizeof v); }
// Round to nearest even, NaN -> 0x7FC0: the rounding c10::BFloat16 does,
// vectorised so that every output element is rounded by this one rule.
LOCKSTEP_LANES_INLINE void store16(c10::BFloat16* p, F16 v) {
  U16 u;
  std::memcpy(&u, &v, sizeof u);
  U16 rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  rounded = (v != v) ? U16{} + 0x7FC0u : rounded;
  H16 h = __builtin_convertvector(rounded, H16);
  std::memcpy(p, &h, sizeof h);
}

// The first `count` (< 16) elements of p, the other lanes set to `fill`.
template <class T>
LOCKSTEP_LANES_INLINE F16 load_tail(const T* p, int64_t count, float fill) {
  F16 r = splat(fill);
  for (int64_t l = 0; l < count; ++l) r[l] = static_cast<float>(p[l]);
  return r;
}
template <class T>
LOCKSTEP_LANES_INLINE void store_tail(T* p, F16 v, int64_t count) {
  T buf[kLanes];
  store16(buf, v);
  for (int64_t l = 0; l < count; ++l) p[l] = buf[l];
}

LOCKSTEP_LANES_INLINE F16 fma16(F16 a, F16 b, F16 c) {
  F16 r;
  for (int l = 0; l < kLanes; ++l) r[l] = __builtin_fmaf(a[l], b[l], c[l]);
  return r;
}

// max that ignores a NaN candidate (the comparison is false) and keeps the
// lane on a tie, so its result never depends on which path evaluates it.
LOCKSTEP_LANES_INLINE F16 max16(F16 acc, F16 v) { return v > acc ? v : acc; }

// The tree of THE ORDER.
LOCKSTEP_LANES_INLINE float tree_sum(F16 v) {
  float a[kLanes];
  std::memcpy(a, &v, sizeof a);
  for (int width = kLanes / 2; width >= 1; width /= 2)
    for (int l = 0; l < width; ++l) a[l] += a[l + width];
  return a[0];
}
LOCKSTEP_LANES_INLINE float tree_max(F16 v) {
  float a[kLanes];
  std::memcpy(a, &v, sizeof a);
  for (int width = kLanes / 2; width >= 1; width /= 2)
    for (int l = 0; l < width; ++l) a[l] = a[l + width] > a[l] ? a[l + width] : a[l];
  return a[0];
}

// exp, lockstep's own, used by every path (never libm on one path and a
// vector library on another). x = n ln2 + r with n = round(x / ln2) and
// |r| <= ln2/2, r = fma(-n, ln2_lo, fma(-n, ln2_hi, x)); e^r is the
// degree-7 Taylor polynomial (truncation < 0.05 ulp) by Horner, one fma per
// step; 2^n is applied as two exact power-of-two factors so that n in
// [-150, 128] needs no special case: overflow gives +inf and underflow 0 or
// a subnormal through IEEE multiplication. Within 0.86 ulp of the true
// value on the test grid (tests/kernels/reductions_test.cpp).
// (fma16 is an exact fma on every path, so this is one definition.)
LOCKSTEP_LANES_INLINE F16 exp16(F16 x) {
  const F16 magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  F16 xc = x < -104.0f ? splat(-104.0f) : x;
  xc = xc > 89.0f ? splat(89.0f) : xc;
  F16 t = xc * 1.44269504088896341f + magic;
  F16 n = t - magic;
  I16 ni = (I16)t - (I16)magic;
  F16 r = fma16(-n, splat(0.693359375f), xc);
  r = fma16(-n, splat(-2.12194440e-4f), r);
  F16 p = splat(1.0f / 5040.0f);
  p = fma16(p, r, splat(1.0f / 720.0f));
  p = fma16(p, r, splat(1.0f / 120.0f));
  p = fma16(p, r, splat(1.0f / 24.0f));
  p = fma16(p, r, splat(1.0f / 6.0f));
  p = fma16(p, r, splat(0.5f));
  p = fma16(p, r, splat(1.0f));
  p = fma16(p, r, splat(1.0f));
  I16 half = ni >> 1;
  F16 scale1 = (F16)((half + 127) << 23);
  F16 scale2 = (F16)((ni - half + 127) << 23);
  F16 result = (p * scale1) * scale2;
  return x != x ? x : result;
}

LOCKSTEP_LANES_INLINE float exp1(float x) { return exp16(splat(x))[0]; }

// Natural log of one value (once per row, so scalar, in double, then
// rounded to float: within 0.5 ulp + 1e-15 relative). Own implementation
// for the same reason as exp16. x = m 2^e with m in [sqrt(1/2), sqrt(2));
// log m = 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.1716, by its series.
LOCKSTEP_LANES_INLINE float log1(float x) {
  if (x != x) return x;
  if (x < 0.0f) return __builtin_nanf("");
  if (x == 0.0f) return -__builtin_inff();
  if (x == __builtin_inff()) return x;
  double d = x;
  int e = 0;
  if (d < 1.1754943508222875e-38) {  // subnormal float: make it normal
    d *= 8388608.0;                  // 2^23
    e = -23;
  }
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  e += static_cast<int>((bits >> 52) & 0x7FF) - 1023;
  bits = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
  double m;
  std::memcpy(&m, &bits, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  const double f = (m - 1.0) / (m + 1.0);
  const double f2 = f * f;
  double s = 1.0 / 23.0;
  for (int k = 21; k >= 1; k -= 2) s = s * f2 + 1.0 / k;
  const double log_m = 2.0 * f * s;
  return static_cast<float>(e * 0.6931471805599453 + log_m);
}

// Reductions of one row in THE ORDER. `T` is float or c10::BFloat16.
template <class T>
LOCKSTEP_LANES_INLINE float row_sum(const T* x, int64_t n) {
  F16 acc = splat(0.0f);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) acc += load16(x + i);
  if (i < n) acc += load_tail(x + i, n - i, 0.0f);
  return tree_sum(acc);
}
// The maximum of the non-NaN elements (-inf if none), with -0 returned as
// +0. A max is exact, and without the sign of zero it is a function of the
// set of values alone, so unlike a sum it may use any order: four
// accumulators here, to keep the compare chain off the critical path.
template <class T>
LOCKSTEP_LANES_INLINE float row_max(const T* x, int64_t n) {
  F16 acc[4] = {splat(-__builtin_inff()), splat(-__builtin_inff()), splat(-__builtin_inff()),
                splat(-__builtin_inff())};
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes)
    for (int a = 0; a < 4; ++a) acc[a] = max16(acc[a], load16(x + i + a * kLanes));
  for (; i + kLanes <= n; i += kLanes) acc[0] = max16(acc[0], load16(x + i));
  if (i < n) acc[0] = max16(acc[0], load_tail(x + i, n - i, -__builtin_inff()));
  return tree_max(max16(max16(acc[0], acc[1]), max16(acc[2], acc[3]))) + 0.0f;
}
// sum of (x - center)^2, one fma per element.
template <class T>
LOCKSTEP_LANES_INLINE float row_sum_sq(const T* x, int64_t n, float center) {
  F16 acc = splat(0.0f);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    F16 d = load16(x + i) - center;
    acc = fma16(d, d, acc);
  }
  if (i < n) {
    // padding equals `center`, so it contributes fma(0, 0, acc) == acc
    F16 d = load_tail(x + i, n - i, center) - center;
    acc = fma16(d, d, acc);
  }
  return tree_sum(acc);
}

}  // namespace lockstep::kernels::cpu::lanes

// Defines `static RET NAME PARAMS`, which runs the expression BODY compiled
// for the active ISA. BODY must only call always-inline code (the F16
// helpers above, always-inline templates, and lambdas marked
// LOCKSTEP_LANES_INLINE_LAMBDA) so that it is compiled inside each variant.
// ARGS forwards PARAMS' names to the variants.
#define LOCKSTEP_LANES_DISPATCH(RET, NAME, PARAMS, ARGS, BODY)                                    \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))) static RET NAME##_avx512 \
      PARAMS {                                                                                    \
    return BODY;                                                                                  \
  }                                                                                               \
  __attribute__((target("avx2,fma"))) static RET NAME##_avx2 PARAMS { return BODY; }             \
  static RET NAME##_baseline PARAMS { return BODY; }                                              \
  static RET NAME PARAMS {                                                                        \
    switch (::lockstep::kernels::cpu::lanes::active_isa()) {                                      \
      case ::lockstep::kernels::cpu::lanes::Isa::avx512:                                          \
        return NAME##_avx512 ARGS;                                                                \
      case ::lockstep::kernels::cpu::lanes::Isa::avx2:                                            \
        return NAME##_avx2 ARGS;                                                                  \
      default:                                                                                    \
        return NAME##_baseline ARGS;                                                              \
    }                                                                                             \
  }

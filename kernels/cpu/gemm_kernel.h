// Private interface between the GEMM driver (gemm.cpp) and its per-ISA
// micro-kernels (gemm_avx512.cpp, gemm_avx2.cpp, gemm_scalar.cpp).
//
// THE ORDER. Every output element C[m][n] = sum_k A[m][k] * B[n][k] (B is
// held K-contiguous, i.e. as the transposed right operand) is computed as:
//   1. 16 lanes; lane l accumulates, in fp32 and in increasing k, the
//      products with k = l (mod 16): acc_l = fma(A[m][k], B[n][k], acc_l),
//      starting from acc_l = +0.
//   2. The lanes are combined by a fixed pairwise tree:
//      s_l = acc_l + acc_{l+8} (l < 8), t_l = s_l + s_{l+4} (l < 4),
//      u_l = t_l + t_{l+2} (l < 2), dot = u_0 + u_1.
//   3. Epilogue: r = alpha * dot; if a bias takes part (beta != 0),
//      r = r + beta * bias[m][n]; bf16 outputs round r to bf16 once (RNE).
// The order depends on K only. Terms with k >= K would add +0 * +0 to a lane
// that is never -0 (it starts at +0 and x + (+0) keeps it off -0), so
// zero-padding the tail changes nothing. The AVX-512 path (one 16-wide
// register per element), the AVX2 path (two 8-wide registers) and the scalar
// path (std::fma) implement exactly this, so results do not depend on the ISA,
// the tile an element falls in, M, the block, or the thread that computes it.
// bf16 inputs are widened to fp32 exactly (bf16 is the top half of an fp32).
#pragma once

#include <c10/util/BFloat16.h>

#include <cstdint>

namespace lockstep::kernels::cpu::gemm {

constexpr int kLanes = 16;

enum class Isa { scalar, avx2, avx512 };

// Best ISA this CPU supports (decided once, at first use).
Isa best_isa();
bool isa_supported(Isa isa);
const char* isa_name(Isa isa);
// The ISA mm/addmm/bmm run on: best_isa() unless a test chose another to
// show that every path gives the same bits. Process-wide; returns the
// previous choice. Throws if this CPU cannot run `isa`.
Isa active_isa();
Isa use_isa(Isa isa);

// One GEMM problem with raw pointers. A and B share one dtype, C and the
// bias another (each fp32 or bf16): the driver may hand a bf16 product to
// the kernels with A and B already widened to fp32, which is exact.
struct Problem {
  bool in_bf16 = false;   // A and B
  bool out_bf16 = false;  // C and the bias
  const void* a = nullptr;    // [M, K], k stride 1, row stride lda
  int64_t lda = 0;
  const void* b = nullptr;    // [N, K], k stride 1, row stride ldb
  int64_t ldb = 0;
  void* c = nullptr;          // [M, N], n stride 1, row stride ldc
  int64_t ldc = 0;
  int64_t M = 0, N = 0, K = 0;
  float alpha = 1.0f;
  float beta = 0.0f;
  const void* bias = nullptr;  // nullptr: no bias term (also when beta == 0)
  int64_t bias_sm = 0, bias_sn = 0;  // element strides, 0 for broadcast
};

// Computes C[m0:m1, n0:n1] of `p`. Each ISA's version is a complete
// implementation of THE ORDER above; the driver only picks one.
void run_block_scalar(const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void run_block_avx2(const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void run_block_avx512(const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

// Calls run with a value of A and B's element type in `p` (c10::BFloat16 or
// float): a run_block picks its kernels' instantiation through it.
template <class Run>
inline void with_input_type(const Problem& p, Run&& run) {
  if (p.in_bf16) {
    run(c10::BFloat16{});
  } else {
    run(float{});
  }
}

inline float widen(float x) { return x; }
inline float widen(c10::BFloat16 x) { return static_cast<float>(x); }

// Step 3 of THE ORDER, shared by every ISA so the rounding is one piece of
// code. The build uses -ffp-contract=off: alpha * dot + beta * bias is two
// roundings of the products and one of the sum, never an fma.
inline void store_result(const Problem& p, int64_t m, int64_t n, float dot) {
  float r = p.alpha * dot;
  if (p.bias != nullptr) {
    const int64_t at = m * p.bias_sm + n * p.bias_sn;
    const float bias = p.out_bf16 ? widen(static_cast<const c10::BFloat16*>(p.bias)[at])
                              : static_cast<const float*>(p.bias)[at];
    r = r + p.beta * bias;
  }
  if (p.out_bf16) {
    static_cast<c10::BFloat16*>(p.c)[m * p.ldc + n] = c10::BFloat16(r);
  } else {
    static_cast<float*>(p.c)[m * p.ldc + n] = r;
  }
}

}  // namespace lockstep::kernels::cpu::gemm

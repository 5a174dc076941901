// Scalar GEMM: THE ORDER of gemm_kernel.h written out literally, one output
// element at a time. It is the fallback on CPUs without AVX2+FMA and the
// readable definition the vector paths are tested against bit for bit.
#include <cmath>

#include "kernels/cpu/gemm_kernel.h"

namespace lockstep::kernels::cpu::gemm {
namespace {

template <typename T>
float dot_in_order(const T* a, const T* b, int64_t K) {
  float acc[kLanes] = {};  // +0: see "zero-padding" in gemm_kernel.h
  for (int64_t k = 0; k < K; ++k) {
    float& lane = acc[k % kLanes];
    lane = std::fma(widen(a[k]), widen(b[k]), lane);
  }
  // The fixed pairwise tree: 8, then 4, 2, 1 apart.
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l) acc[l] = acc[l] + acc[l + width];
  }
  return acc[0];
}

template <typename T>
void run(const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const T* a = static_cast<const T*>(p.a);
  const T* b = static_cast<const T*>(p.b);
  for (int64_t m = m0; m < m1; ++m) {
    for (int64_t n = n0; n < n1; ++n) {
      store_result(p, m, n, dot_in_order(a + m * p.lda, b + n * p.ldb, p.K));
    }
  }
}

}  // namespace

void run_block_scalar(const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  with_input_type(p, [&](auto element) { run<decltype(element)>(p, m0, m1, n0, n1); });
}

}  // namespace lockstep::kernels::cpu::gemm

// cuBLASLt with pinned algorithms: one plan per PlanKey (N, K, dtype, B's
// layout, device; never M), split-K forced to 1 with reduction scheme none,
// a fixed workspace size, cached for the life of the process.
//
// How a plan is built (once per key, under a lock; see gemm_layout.h):
//  1. ask the heuristic at every M rung (1, 2, .., 4096) for 8 algorithms;
//     force SPLITK_NUM = 1 and REDUCTION_SCHEME = NONE on each;
//  2. keep those cublasLtMatmulAlgoCheck accepts at the rung's probe M values
//     (the 4096 rung is checked up to M = 2^20);
//  3. the reference is the best algorithm at M = 4096 that is accepted on
//     every rung (so it can serve any M alone);
//  4. each rung may use a heuristic favourite instead, but only if a bitwise
//     probe on random data (same K, same B layout, ragged M = 67) gives the
//     reference's exact bits; otherwise the rung runs the reference.
// No timing is involved: the plan is a pure function of the heuristic's
// answers and of the bits the candidates produce, so it is the same in every
// process on the same device and software stack.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/gemm_layout.h"

namespace lockstep::kernels::cuda::gemm {

// One GEMM for our row-major problem out[b] = alpha * A[b] . B[b] + beta * out[b]
// with out contiguous [batch, M, N] (beta != 0 only when key.with_c).
struct LtCall {
  PlanKey key;
  int64_t m = 0;
  int64_t batch = 1;
  const void* a = nullptr;  // our A, row-major: ld and batch stride in elements
  int64_t a_ld = 0, a_batch_stride = 0;
  const void* b = nullptr;  // our B, laid out as key.b_order / key.b_ld
  int64_t b_batch_stride = 0;
  void* out = nullptr;
  float alpha = 1.0f, beta = 0.0f;
};

// Runs `call` with its key's plan on the current stream. Returns false when
// no cuBLASLt algorithm serves the key: the caller then uses its own kernel,
// for every M alike. Throws if a planned algorithm refuses an M (never seen;
// falling back silently would change bits).
bool run_pinned(const LtCall& call);

// The fixed workspace handed to every cuBLASLt call.
constexpr uint64_t kWorkspaceBytes = uint64_t{32} << 20;

// Human-readable plans built so far (key, reference, algorithm per rung).
std::string describe_plans();

// Signatures of the algorithm per rung for `key` ("" per rung when the key
// uses the fallback kernel); builds the plan if needed. For tests and logs.
std::vector<std::string> plan_rung_signatures(const PlanKey& key);

// Whether `key`'s plan runs M <= kSmallMaxM (gemm_small_m.h) on its own
// kernel, i.e. the kernel fits the key and its probe gave the plan's bits;
// builds the plan if needed.
bool plan_uses_small_m(const PlanKey& key);

}  // namespace lockstep::kernels::cuda::gemm

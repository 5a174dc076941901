// The decode GEMM: out[M, N] = A[M, K] . B[K, N] for M <= 16 rows, bf16, B
// a column-major weight (W[N, K] transposed), by our own kernel with the
// bits of the pinned cuBLASLt plan.
//
// Why it can: every algorithm of a pinned plan walks K in one order (16
// values per tensor-core step, fp32 accumulators, no split), and an
// mma.sync.m16n8k16 chain over K in that order gives the same bits
// (kernels/bench/gemv_probe.cu measured it on the H100 for the decode GEMMs
// of the 1.07B Llama and SmolLM2-135M, M = 1 .. 16: 0 elements differ). The
// plan does not take it on trust: it probes this kernel against its
// reference on random data when it is built (cublaslt_pinned.cpp) and uses
// it only if the bits agree, as with any cuBLASLt candidate.
//
// Why it should be faster (v3; v2 was not: 1.29 ms of GEMMs a 1.07B
// decode step against cuBLASLt's 0.91, core/PERF.md "Batch 1"): cuBLASLt's
// unsplit kernels at M = 1 run N / 64 CTAs (32 SMs for N = 2048). Here one
// warp owns 8 outputs, one CTA per SM holds 1-16 such warps and a producer
// warp that keeps 64-200 KB of weights in flight per SM by cp.async.bulk
// (sm_90), and each chain's mma steps wait only on the accumulator. A chain
// is still K / 16 dependent steps (512 for K = 8192), which bounds the
// shapes with few columns (gemm_small_m.cu and PERF.md give the numbers).
// Opt-in (LOCKSTEP_GEMM_SMALL_M=1) until a GPU run shows it faster.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "kernels/cuda/gemm_layout.h"

namespace lockstep::kernels::cuda::gemm {

constexpr int64_t kSmallMaxM = 16;

// Whether the kernel can serve a key at all (bf16, unbatched, no C, B
// column-major with 16-byte aligned rows, K a multiple of 64, N of 8, a
// device of compute capability 9.x: the H100/H200, whose sm_90a code it has).
bool small_m_fits(const PlanKey& key);

// Whether A can be staged as it lies: 16-byte aligned rows (else the caller
// runs cuBLASLt, which gives the same bits).
bool small_m_a_fits(const void* a, int64_t a_ld);

// One call: rows 0..m-1 of A (row stride a_ld elements, small_m_a_fits),
// B's column n at b + n * b_ld (K contiguous), out contiguous [m, n].
void small_m_gemm(const void* a, int64_t a_ld, const void* b, int64_t b_ld, void* out, int64_t m, int64_t n,
                  int64_t k, cudaStream_t stream);

// How small_m_gemm splits an [m, n] output on the current device (CTAs,
// chains a CTA, tiles, stages): for the probe's table.
std::string small_m_config(int64_t m, int64_t n);

}  // namespace lockstep::kernels::cuda::gemm

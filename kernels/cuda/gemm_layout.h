// Host-side rules of the pinned GEMM, kept free of CUDA so CPU CI tests them:
//  * how a row-major, strided C[M,N] = A[M,K] . B[K,N] maps onto cuBLASLt's
//    column-major view (C^T = B^T . A^T: Lt's "A" is our B, Lt's "B" our A);
//  * which alignment we promise cuBLASLt, as a function of (N, K, dtype, B's
//    layout) only, never of M or of where a row slice happens to start;
//  * how one plan per shape key is chosen from the heuristic's candidates.
//
// Why a plan has rungs: cuBLASLt's heuristic picks different tiles for
// different M, and two algorithms may reduce K in different orders. A plan
// holds one algorithm per M rung (1, 2, 4, .., 4096), but every algorithm in
// a plan has been shown to give the same bits as the plan's reference
// algorithm (a bitwise probe on the GPU, see cublaslt_pinned.cpp). So the
// bits of a row never depend on M, while small M may still run a
// small-M-friendly tile when one exists that reduces K the same way.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lockstep::kernels::cuda::gemm {

// Largest power of two, at most 16, dividing every value (bytes). 16 bytes is
// the most any cuBLASLt/TMA path needs; promising more buys nothing.
int alignment_bytes(std::initializer_list<uint64_t> values);

// A batched matrix operand [batch, rows, cols] with element strides.
struct MatrixView {
  int64_t batch = 1, rows = 0, cols = 0;
  int64_t batch_stride = 0, row_stride = 0, col_stride = 0;
  uint64_t address = 0;  // byte address of element (0, 0, 0)
  int64_t elem_bytes = 0;
};

// Our A [batch, M, K] becomes Lt's B: a K x M column-major matrix. It is
// used in place iff it is row-major (unit stride along K) and meets the
// alignment `promised_a_alignment(K, elem)`; otherwise the caller copies it
// to a fresh contiguous tensor, which always meets it. The promise depends on
// K only, so the algorithm never changes with M or with the row offset.
int promised_a_alignment(int64_t k, int64_t elem_bytes);
struct AMapping {
  bool in_place = false;
  int64_t ld = 0;            // Lt's ldb, elements
  int64_t batch_stride = 0;  // elements
};
AMapping map_a(const MatrixView& a);

// Our B [batch, K, N] becomes Lt's A. Row-major B (unit stride along N) is
// an N x K column-major matrix (op N); column-major B (unit stride along K,
// e.g. a [N, K] weight transposed) is a K x N column-major matrix used
// with op T. Neither: the caller copies it to contiguous (row-major).
enum class BOrder : int { row_major = 0, col_major = 1 };
struct BMapping {
  bool in_place = false;
  BOrder order = BOrder::row_major;
  int64_t ld = 0;            // Lt's lda, elements
  int64_t batch_stride = 0;  // elements
  int align = 1;             // bytes, from the address, ld and batch stride
};
BMapping map_b(const MatrixView& b);

// The key a plan is cached under: everything that may change the algorithm
// cuBLASLt can run, and nothing that varies with M.
struct PlanKey {
  int device = 0;
  int dtype = 0;  // c10::ScalarType as int
  int64_t n = 0, k = 0;
  BOrder b_order = BOrder::row_major;
  int64_t b_ld = 0;
  int b_align = 1;
  bool with_c = false;  // beta != 0 (addmm)
  bool batched = false;
  // The call's scalars, which the plan's bitwise probes use: two algorithms
  // that agree at alpha = beta = 1 may round another epilogue differently
  // (H100: fp32 addmm at alpha 0.75, beta -1.5 differed by 1 ulp between
  // the M = 1 and M = 2 rungs). beta stays 1 without C.
  float alpha = 1.0f, beta = 1.0f;
  bool operator==(const PlanKey& o) const;
  std::string str() const;
};
struct PlanKeyHash {
  size_t operator()(const PlanKey& key) const;
};

// An algorithm's configuration attributes (cublasLtMatmulAlgoConfigAttributes_t).
struct AlgoSignature {
  int32_t id = -1;
  uint32_t tile = 0, stages = 0;
  int32_t splitk = 1;
  uint32_t reduction = 0, swizzle = 0, custom = 0;
  uint16_t inner_shape = 0, cluster_shape = 0;
  bool operator==(const AlgoSignature& o) const;
  std::string str() const;
};

// M rungs: the heuristic is asked at each; M uses the smallest rung >= M
// (the last rung for anything larger).
constexpr std::array<int64_t, 13> kRungs = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
constexpr int kNumRungs = static_cast<int>(kRungs.size());
int rung_for_m(int64_t m);
// M values at which an algorithm serving rung `r` is checked with
// cublasLtMatmulAlgoCheck; the last rung reaches far past 4096.
std::vector<int64_t> probe_ms_for_rung(int r);

// The choice, given per rung the candidate ids in heuristic order (only
// those applicable on the whole rung), the reference id (applicable on every
// rung; -1 = none, the plan is empty and the caller uses its own kernel) and
// an oracle "do these two candidates give the same bits". Each rung takes the
// first of its first `max_tried` candidates that is the reference or
// equivalent to it, else the reference itself.
struct Plan {
  bool empty = true;
  int reference = -1;
  std::array<int, kNumRungs> rung_algo{};
};
Plan choose_plan(const std::vector<std::vector<int>>& ranked_per_rung, int reference,
                 const std::function<bool(int, int)>& equivalent, int max_tried = 4);

}  // namespace lockstep::kernels::cuda::gemm

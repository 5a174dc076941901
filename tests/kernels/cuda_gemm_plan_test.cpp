// The host-side rules of the pinned CUDA GEMM (kernels/cuda/gemm_layout.h):
// operand mapping onto cuBLASLt's column-major view, the alignment promise
// (a function of K, never of M or a row's offset), the M rungs and the plan
// choice. Pure CPU logic: these run in CPU CI without a GPU.
#ifdef LOCKSTEP_WITH_CUDA
#include "kernels/cuda/gemm_layout.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>
#include <vector>

namespace lockstep::kernels::cuda::gemm {
namespace {

MatrixView view(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride, uint64_t address, int64_t elem,
                int64_t batch = 1, int64_t batch_stride = 0) {
  MatrixView v;
  v.batch = batch;
  v.rows = rows;
  v.cols = cols;
  v.batch_stride = batch_stride;
  v.row_stride = row_stride;
  v.col_stride = col_stride;
  v.address = address;
  v.elem_bytes = elem;
  return v;
}

TEST(CudaGemmLayout, AlignmentIsLowestPowerOfTwoCappedAt16) {
  EXPECT_EQ(alignment_bytes({}), 16);
  EXPECT_EQ(alignment_bytes({0}), 16);
  EXPECT_EQ(alignment_bytes({1152}), 16);
  EXPECT_EQ(alignment_bytes({1152, 2}), 2);
  EXPECT_EQ(alignment_bytes({28}), 4);
  EXPECT_EQ(alignment_bytes({256, 24}), 8);
  EXPECT_EQ(alignment_bytes({3}), 1);
}

TEST(CudaGemmLayout, PromiseForADependsOnKOnly) {
  EXPECT_EQ(promised_a_alignment(576, 2), 16);
  EXPECT_EQ(promised_a_alignment(7, 4), 4);
  EXPECT_EQ(promised_a_alignment(13, 2), 2);
  EXPECT_EQ(promised_a_alignment(0, 2), 2);
}

TEST(CudaGemmLayout, RowMajorAIsUsedInPlaceAtEveryRowOffset) {
  // Rows i.. of a contiguous [*, K] tensor start at i * K * elem: for every K
  // that address is a multiple of the promise, so a row alone and the same
  // row inside a batch take the same path.
  for (int64_t k : {int64_t{576}, int64_t{7}, int64_t{13}, int64_t{4096}}) {
    for (int64_t elem : {int64_t{2}, int64_t{4}}) {
      for (int64_t row : {int64_t{0}, int64_t{1}, int64_t{3}, int64_t{17}}) {
        for (int64_t m : {int64_t{1}, int64_t{2}, int64_t{33}}) {
          const AMapping a = map_a(view(m, k, k, 1, 4096 + static_cast<uint64_t>(row * k * elem), elem));
          EXPECT_TRUE(a.in_place) << "K=" << k << " elem=" << elem << " row=" << row << " M=" << m;
          EXPECT_EQ(a.ld, k);
        }
      }
    }
  }
}

TEST(CudaGemmLayout, SingleRowAIgnoresItsRowStride) {
  const AMapping a = map_a(view(1, 64, 12345, 1, 4096, 2));
  EXPECT_TRUE(a.in_place);
  EXPECT_EQ(a.ld, 64);
}

TEST(CudaGemmLayout, PaddedRowsKeepTheirLeadingDimension) {
  const AMapping a = map_a(view(8, 64, 192, 1, 4096, 2));  // a [:, :64] slice of [8, 192]
  EXPECT_TRUE(a.in_place);
  EXPECT_EQ(a.ld, 192);
}

TEST(CudaGemmLayout, TransposedOrMisalignedAIsCopied) {
  const AMapping t = map_a(view(8, 64, 1, 8, 4096, 2));
  EXPECT_FALSE(t.in_place);
  EXPECT_EQ(t.ld, 64);
  const AMapping odd = map_a(view(8, 64, 64, 1, 4096 + 2, 2));
  EXPECT_FALSE(odd.in_place);
  const AMapping odd_ld = map_a(view(8, 64, 65, 1, 4096, 2));
  EXPECT_FALSE(odd_ld.in_place);
  const AMapping batched = map_a(view(8, 64, 64, 1, 4096, 2, 3, 8 * 64 + 1));
  EXPECT_FALSE(batched.in_place);
  EXPECT_EQ(batched.batch_stride, 8 * 64);
}

// How B [K, N] maps onto cuBLASLt: in place or copied, its order, leading dimension, alignment.
struct BCase {
  const char* what;
  MatrixView b;
  bool in_place;
  BOrder order;
  int64_t ld;
  int align;
};

TEST(CudaGemmLayout, BMapsInPlaceOrCopiedToRowMajor) {
  const std::vector<BCase> cases = {
      // nn.Linear: B = W.t() with W [N, K] contiguous: strides (1, K).
      {"weight transposed", view(576, 1536, 1, 576, 4096, 2), true, BOrder::col_major, 576, 16},
      {"row-major", view(576, 1536, 1536, 1, 4096, 2), true, BOrder::row_major, 1536, 16},
      {"row-major, odd N", view(16, 37, 37, 1, 4096, 4), true, BOrder::row_major, 37, 4},
      // Degenerate shapes prefer row-major.
      {"[K, 1]", view(64, 1, 1, 1, 4096, 2), true, BOrder::row_major, 1, 2},
      {"[1, N]", view(1, 64, 7, 1, 4096, 2), true, BOrder::row_major, 64, 16},
      {"strided: copied to row-major", view(64, 32, 64, 2, 4096, 2), false, BOrder::row_major, 32, 16},
  };
  for (const BCase& c : cases) {
    const BMapping b = map_b(c.b);
    EXPECT_EQ(b.in_place, c.in_place) << c.what;
    EXPECT_EQ(b.order, c.order) << c.what;
    EXPECT_EQ(b.ld, c.ld) << c.what;
    EXPECT_EQ(b.align, c.align) << c.what;
  }
}

TEST(CudaGemmLayout, RungsCoverEveryM) {
  EXPECT_EQ(rung_for_m(1), 0);
  EXPECT_EQ(rung_for_m(2), 1);
  EXPECT_EQ(rung_for_m(3), 2);
  EXPECT_EQ(rung_for_m(4), 2);
  EXPECT_EQ(rung_for_m(1000), 10);
  EXPECT_EQ(rung_for_m(4096), kNumRungs - 1);
  EXPECT_EQ(rung_for_m(1 << 22), kNumRungs - 1);
  for (int r = 0; r < kNumRungs; ++r) {
    for (int64_t m : probe_ms_for_rung(r)) EXPECT_EQ(rung_for_m(m), r) << "rung " << r << " probe M " << m;
  }
  const std::vector<int64_t> top = probe_ms_for_rung(kNumRungs - 1);
  EXPECT_EQ(top.back(), int64_t{1} << 20);
}

TEST(CudaGemmLayout, PlanTakesOnlyEquivalentCandidates) {
  // Candidates: 0 = reference; 1 equivalent to it; 2 and 3 not.
  const std::map<std::pair<int, int>, bool> same = {{{1, 0}, true}, {{2, 0}, false}, {{3, 0}, false}};
  int asked = 0;
  auto oracle = [&](int x, int y) {
    ++asked;
    return same.at({x, y});
  };
  std::vector<std::vector<int>> ranked(kNumRungs);
  ranked[0] = {2, 1, 0};   // the favourite differs in bits, the runner-up does not
  ranked[1] = {3, 2};      // none equivalent: the reference
  ranked[2] = {0, 1};      // the reference itself
  ranked[kNumRungs - 1] = {0};
  const Plan plan = choose_plan(ranked, 0, oracle);
  ASSERT_FALSE(plan.empty);
  EXPECT_EQ(plan.reference, 0);
  EXPECT_EQ(plan.rung_algo[0], 1);
  EXPECT_EQ(plan.rung_algo[1], 0);
  EXPECT_EQ(plan.rung_algo[2], 0);
  for (int r = 3; r < kNumRungs; ++r) EXPECT_EQ(plan.rung_algo[static_cast<size_t>(r)], 0);
  EXPECT_GT(asked, 0);
}

TEST(CudaGemmLayout, PlanTriesAtMostMaxTried) {
  std::vector<std::vector<int>> ranked(kNumRungs);
  ranked[0] = {5, 6, 7};
  int asked = 0;
  auto oracle = [&](int x, int) {
    ++asked;
    return x == 7;
  };
  const Plan plan = choose_plan(ranked, 0, oracle, 2);
  EXPECT_EQ(plan.rung_algo[0], 0);
  EXPECT_EQ(asked, 2);
}

TEST(CudaGemmLayout, NoReferenceMeansOwnKernel) {
  std::vector<std::vector<int>> ranked(kNumRungs);
  const Plan plan = choose_plan(ranked, -1, [](int, int) { return true; });
  EXPECT_TRUE(plan.empty);
}

TEST(CudaGemmLayout, PlanKeyHasNoM) {
  PlanKey a;
  a.n = 4096;
  a.k = 4096;
  a.dtype = 15;
  a.b_order = BOrder::col_major;
  a.b_ld = 4096;
  a.b_align = 16;
  PlanKey b = a;
  EXPECT_TRUE(a == b);
  EXPECT_EQ(PlanKeyHash{}(a), PlanKeyHash{}(b));
  b.with_c = true;
  EXPECT_FALSE(a == b);
  EXPECT_NE(a.str(), b.str());
  PlanKey scaled = a;   // the scalars are probed with: another plan
  scaled.alpha = 0.75f;
  EXPECT_FALSE(a == scaled);
  EXPECT_NE(a.str(), scaled.str());
}

}  // namespace
}  // namespace lockstep::kernels::cuda::gemm
#endif  // LOCKSTEP_WITH_CUDA

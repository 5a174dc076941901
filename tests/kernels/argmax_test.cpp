// argmax contract: first maximum wins, NaN is an error, and the CUDA kernel
// returns exactly the CPU answer (skipped where no GPU is present).
#include "kernels/argmax.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>

#ifdef LOCKSTEP_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace lockstep::kernels {
namespace {

TEST(ArgmaxCpu, SmallestIndexWinsTies) {
  at::Tensor x = at::tensor({1.0f, 3.0f, -2.0f, 3.0f, 3.0f});
  EXPECT_EQ(argmax_smallest_index(x).item<int64_t>(), 1);
  at::Tensor rows = at::tensor({0.5f, 0.5f, 0.5f, -1.0f, -1.0f, 7.0f}).reshape({2, 3});
  at::Tensor got = argmax_smallest_index(rows);
  EXPECT_EQ(got[0].item<int64_t>(), 0);
  EXPECT_EQ(got[1].item<int64_t>(), 2);
}

TEST(ArgmaxCpu, MatchesTorchOnRandomRowsWithoutTies) {
  at::manual_seed(7);
  at::Tensor x = at::randn({17, 49152});
  EXPECT_TRUE(at::equal(argmax_smallest_index(x), x.argmax(-1)));
}

TEST(ArgmaxCpu, InfinitiesAreOrdinaryValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(argmax_smallest_index(at::tensor({-inf, -inf})).item<int64_t>(), 0);
  EXPECT_EQ(argmax_smallest_index(at::tensor({-inf, 2.0f, inf, inf})).item<int64_t>(), 2);
}

TEST(ArgmaxCpu, NanIsAnError) {
  at::Tensor x = at::tensor({1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f});
  EXPECT_THROW(argmax_smallest_index(x), c10::Error);
}

TEST(ArgmaxCpu, RejectsWrongDtype) {
  EXPECT_THROW(argmax_smallest_index(at::ones({4}, at::kDouble)), c10::Error);
}

#ifdef LOCKSTEP_WITH_CUDA
bool have_gpu() { return at::cuda::is_available(); }

TEST(ArgmaxCuda, EqualsCpuIncludingTies) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  at::manual_seed(11);
  // Coarse values force many ties inside and across thread slices.
  at::Tensor x = at::randint(0, 8, {64, 49152}).to(at::kFloat);
  at::Tensor cpu = argmax_smallest_index(x);
  at::Tensor gpu = argmax_smallest_index(x.cuda()).cpu();
  EXPECT_TRUE(at::equal(cpu, gpu));
  for (int64_t n : {1, 2, 255, 256, 257, 1000}) {
    at::Tensor y = at::randint(0, 3, {5, n}).to(at::kFloat);
    EXPECT_TRUE(at::equal(argmax_smallest_index(y), argmax_smallest_index(y.cuda()).cpu())) << n;
  }
}

TEST(ArgmaxCuda, NanIsAnError) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  at::Tensor x = at::ones({3, 300}, at::kFloat);
  x[1][299] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(argmax_smallest_index(x.cuda()), c10::Error);
}
#else
TEST(ArgmaxCuda, NotBuilt) { GTEST_SKIP() << "built without CUDA kernels"; }
#endif

}  // namespace
}  // namespace lockstep::kernels

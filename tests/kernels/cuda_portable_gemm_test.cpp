// Portable mode's CUDA GEMM, path by path: every launch path (the decode kernels, every tile
// size), forced on shapes that are not multiples of any tile, gives the bits of the CPU portable
// GEMM, for nn.Linear's W^T, a row-major B, a transposed A and operands that are not 16-byte
// aligned, with and without the addmm epilogue. Skips without a GPU.
#ifdef LOCKSTEP_WITH_CUDA
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/portable/cuda_gemm.h"
#include "kernels/portable/ops.h"
#include "tests/kernels/cuda_test_support.h"

namespace lockstep::kernels {
namespace {

namespace pcuda = portable::cuda;

using testing::first_difference;  // cuda_test_support.h

// An operand made on the CPU and copied to the GPU whole, then viewed the same way on both sides
// (a view's strides and offset survive, which .cuda() of the view would not promise).
struct Pair {
  at::Tensor cpu, gpu;
};
Pair make(const at::Tensor& base, const std::function<at::Tensor(const at::Tensor&)>& view) {
  return {view(base), view(base.cuda())};
}

struct Layout {
  const char* name;
  std::function<Pair(int64_t M, int64_t K)> a;
  std::function<Pair(int64_t K, int64_t N)> b;
};

// B (and the bias) are ~1e-20 and row 0 of A is -1e-30: each product of that row underflows to a
// signed zero, so its outputs are the sign of their last step's product, and a step past K
// (fma(0, 0, -0) = +0) or a reordered chain flips a zero. (A host emulation of the kernels caught
// a deliberate extra step with these values, not with values of order 1.)
at::Tensor a_values(int64_t rows, int64_t cols, bool transposed) {
  at::Tensor a = at::randn({rows, cols});
  if (transposed ? cols > 0 : rows > 0) (transposed ? a.select(1, 0) : a.select(0, 0)).fill_(-1e-30f);
  return a;
}
at::Tensor b_values(int64_t rows, int64_t cols) { return at::randn({rows, cols}) * 1e-20; }

std::vector<Layout> layouts() {
  const auto id = [](const at::Tensor& t) { return t; };
  const auto tr = [](const at::Tensor& t) { return t.t(); };
  const auto off = [](const at::Tensor& t) { return t.narrow(1, 1, t.size(1) - 1); };
  const auto off_t = [](const at::Tensor& t) { return t.narrow(1, 1, t.size(1) - 1).t(); };
  return {
      {"W^T", [=](int64_t M, int64_t K) { return make(a_values(M, K, false), id); },
       [=](int64_t K, int64_t N) { return make(b_values(N, K), tr); }},
      {"row-major B", [=](int64_t M, int64_t K) { return make(a_values(M, K, false), id); },
       [=](int64_t K, int64_t N) { return make(b_values(K, N), id); }},
      {"A^T", [=](int64_t M, int64_t K) { return make(a_values(K, M, true), tr); },
       [=](int64_t K, int64_t N) { return make(b_values(N, K), tr); }},
      {"unaligned", [=](int64_t M, int64_t K) { return make(a_values(M, K + 1, false), off); },
       [=](int64_t K, int64_t N) { return make(b_values(N, K + 1), off_t); }},
  };
}

TEST(CudaPortableGemm, EveryPathGivesTheCpuBits) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(21);
  int checked = 0;
  for (int64_t M : {1, 3, 17, 64, 65, 300}) {
    for (auto [K, N] : {std::pair<int64_t, int64_t>{333, 577}, {64, 48}, {576, 130}, {1, 5}}) {
      for (const Layout& l : layouts()) {
        const Pair a = l.a(M, K), b = l.b(K, N);
        const at::Tensor bias = b_values(1, N).view({N});
        const at::Tensor bias_gpu = bias.cuda();
        const at::Tensor mm_cpu = portable::cpu::mm(a.cpu, b.cpu);
        const at::Tensor addmm_cpu = portable::cpu::addmm(bias, a.cpu, b.cpu, 0.5, 3.0);
        const std::string shape = std::to_string(M) + "x" + std::to_string(K) + "x" + std::to_string(N) + " " + l.name;
        for (int p = 0; p < pcuda::gemm_path_count(); ++p) {
          if (!pcuda::gemm_path_fits(p, M)) continue;
          const std::string what = shape + " path " + pcuda::gemm_path_name(p);
          const at::Tensor mm = pcuda::gemm_on_path(a.gpu, b.gpu, std::nullopt, 0.0, 1.0, p);
          EXPECT_EQ(first_difference(mm_cpu, mm), -1) << "mm " << what;
          const at::Tensor addmm = pcuda::gemm_on_path(a.gpu, b.gpu, bias_gpu, 0.5, 3.0, p);
          EXPECT_EQ(first_difference(addmm_cpu, addmm), -1) << "addmm " << what;
          checked += 2;
        }
        // The path the shape picks, through the public entry points.
        EXPECT_EQ(first_difference(mm_cpu, pcuda::mm(a.gpu, b.gpu)), -1) << "mm " << shape;
        EXPECT_EQ(first_difference(addmm_cpu, pcuda::addmm(bias_gpu, a.gpu, b.gpu, 0.5, 3.0)), -1) << "addmm " << shape;
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

// K = 0: every path writes the epilogue of +0 (alpha * 0 + beta * bias), as the CPU does.
TEST(CudaPortableGemm, EmptyKGivesTheEpilogueOfZero) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(22);
  for (int64_t M : {1, 5, 40}) {
    const at::Tensor a = at::randn({M, 0}), w = at::randn({9, 0}), bias = at::randn({9});
    const at::Tensor want = portable::cpu::addmm(bias, a, w.t(), 0.5, 3.0);
    for (int p = 0; p < pcuda::gemm_path_count(); ++p) {
      if (!pcuda::gemm_path_fits(p, M)) continue;
      const at::Tensor got = pcuda::gemm_on_path(a.cuda(), w.cuda().t(), bias.cuda(), 0.5, 3.0, p);
      EXPECT_EQ(first_difference(want, got), -1) << "M " << M << " path " << pcuda::gemm_path_name(p);
    }
  }
}

// The choice depends on the shape alone and is one of the paths that take it; the table's decode
// shapes go to the decode kernels, large ones to 128 x 128 tiles.
TEST(CudaPortableGemm, PathChoiceIsByShape) {
  for (int64_t M : {1, 2, 8, 9, 32, 64, 256, 1024, 4096}) {
    for (auto [N, K] : {std::pair<int64_t, int64_t>{576, 576}, {192, 576}, {1536, 576}, {576, 1536}, {49152, 576},
                        {4096, 4096}, {14336, 4096}}) {
      const int p = pcuda::gemm_path_for(M, N, K, true);
      EXPECT_TRUE(pcuda::gemm_path_fits(p, M)) << M << "x" << N << "x" << K;
      EXPECT_EQ(p, pcuda::gemm_path_for(M, N, K, true));
      if (M <= 8) {
        EXPECT_EQ(std::string(pcuda::gemm_path_name(p)).rfind("rows", 0), 0u) << M << "x" << N;
      }
    }
  }
  EXPECT_STREQ(pcuda::gemm_path_name(pcuda::gemm_path_for(4096, 4096, 4096, true)), "tile128x128");
  // A row-major B (not W^T) takes a tile path even at M <= 8.
  EXPECT_EQ(std::string(pcuda::gemm_path_name(pcuda::gemm_path_for(4, 4096, 4096, false))).rfind("tile", 0),
            0u);
}

}  // namespace
}  // namespace lockstep::kernels
#endif

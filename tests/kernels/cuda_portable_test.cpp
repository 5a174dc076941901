// Portable mode, CPU vs CUDA: every portable kernel gives the same bits on
// both sides, on random inputs of several shapes (odd sizes, nn.Linear's
// transposed weight, GQA, masks, long rows). Skips without a GPU.
#ifdef LOCKSTEP_WITH_CUDA
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>

#include "kernels/mode.h"
#include "kernels/portable/ops.h"
#include "tests/kernels/cuda_test_support.h"

namespace lockstep::kernels {
namespace {

using testing::first_difference;  // cuda_test_support.h

// f runs on CPU tensors and on their CUDA copies, in portable mode.
void expect_same_bits(const std::string& what, const std::vector<at::Tensor>& inputs,
                      const std::function<at::Tensor(const std::vector<at::Tensor>&)>& f) {
  const ModeGuard mode(Mode::portable);
  std::vector<at::Tensor> on_gpu;
  for (const at::Tensor& t : inputs) on_gpu.push_back(t.defined() ? t.cuda() : t);
  const at::Tensor c = f(inputs), g = f(on_gpu);
  const int64_t at_ = first_difference(c, g);
  EXPECT_EQ(at_, -1) << what << ": element " << at_ << " cpu " << c.flatten()[std::max<int64_t>(at_, 0)].item<float>()
                     << " cuda " << g.cpu().flatten()[std::max<int64_t>(at_, 0)].item<float>();
}

TEST(CudaPortable, GemmBitsEqualTheCpu) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(11);
  for (auto [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{1, 576, 1536}, {1, 576, 49152}, {5, 33, 17},
                         {130, 70, 260}, {257, 1536, 576}, {3, 1, 5}}) {
    const at::Tensor a = at::randn({M, K}), w = at::randn({N, K}), b = at::randn({K, N}), bias = at::randn({N});
    const std::string shape = std::to_string(M) + "x" + std::to_string(K) + "x" + std::to_string(N);
    expect_same_bits("mm W^T " + shape, {a, w}, [](auto& t) { return at::mm(t[0], t[1].t()); });
    expect_same_bits("mm " + shape, {a, b}, [](auto& t) { return at::mm(t[0], t[1]); });
    expect_same_bits("linear+bias " + shape, {a, w, bias}, [](auto& t) { return at::linear(t[0], t[1], t[2]); });
    expect_same_bits("addmm " + shape, {a, b, bias}, [](auto& t) { return at::addmm(t[2], t[0], t[1], 0.5, 3.0); });
  }
  const at::Tensor x = at::randn({3, 7, 9}), y = at::randn({3, 9, 4});
  expect_same_bits("bmm", {x, y}, [](auto& t) { return at::bmm(t[0], t[1]); });
}

TEST(CudaPortable, RowReductionsAndNormsBitsEqualTheCpu) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(12);
  for (int64_t n : {1, 5, 32, 33, 576, 1536, 49152}) {
    const at::Tensor x = at::randn({6, n}) * 8, w = at::randn({n});
    const std::string s = "n=" + std::to_string(n);
    expect_same_bits("sum " + s, {x}, [](auto& t) { return t[0].sum(-1); });
    expect_same_bits("mean keepdim " + s, {x}, [](auto& t) { return t[0].mean(-1, true); });
    expect_same_bits("softmax " + s, {x}, [](auto& t) { return at::softmax(t[0], -1); });
    expect_same_bits("log_softmax " + s, {x}, [](auto& t) { return at::log_softmax(t[0], -1); });
    expect_same_bits("rms_norm " + s, {x, w}, [n](auto& t) { return at::rms_norm(t[0], {n}, t[1], 1e-5); });
    // The model's own RMSNorm: x * rsqrt(mean(x*x) + eps) * w.
    expect_same_bits("model rms " + s, {x, w},
                     [](auto& t) { return t[0] * at::rsqrt((t[0] * t[0]).mean(-1, true) + 1e-5) * t[1]; });
  }
}

TEST(CudaPortable, ElementwiseBitsEqualTheCpu) {
  SKIP_WITHOUT_GPU();
  at::Tensor x = at::cat({at::linspace(-110, 100, 20001), at::randn({5000}) * 1e-3,
                          at::tensor({0.0f, -0.0f, 1e-40f, -1e-40f, 88.7f, -103.9f, 3e38f})});
  expect_same_bits("silu", {x}, [](auto& t) { return at::silu(t[0]); });
  expect_same_bits("sigmoid", {x}, [](auto& t) { return at::sigmoid(t[0]); });
  expect_same_bits("rsqrt", {x.abs()}, [](auto& t) { return at::rsqrt(t[0]); });
  expect_same_bits("exp", {x}, [](auto& t) {
    return t[0].is_cuda() ? portable::cuda::unary(t[0], portable::kExp) : portable::cpu::unary(t[0], portable::kExp);
  });
  expect_same_bits("tanh", {x}, [](auto& t) {
    return t[0].is_cuda() ? portable::cuda::unary(t[0], portable::kTanh) : portable::cpu::unary(t[0], portable::kTanh);
  });
}

TEST(CudaPortable, AttentionBitsEqualTheCpu) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(13);
  for (int64_t T : {1, 7, 64, 300}) {
    const at::Tensor q = at::randn({1, 9, T, 64}), k = at::randn({1, 3, T, 64}), v = at::randn({1, 3, T, 64});
    const std::string s = "T=" + std::to_string(T);
    expect_same_bits("causal " + s, {q, k, v}, [](auto& t) {
      return at::scaled_dot_product_attention(t[0], t[1], t[2], {}, 0.0, true, {}, true);
    });
    expect_same_bits("decode " + s, {q.narrow(2, T - 1, 1).contiguous(), k, v}, [](auto& t) {
      return at::scaled_dot_product_attention(t[0], t[1], t[2], {}, 0.0, false, {}, true);
    });
    const at::Tensor mask = at::ones({T, T}, at::kBool).tril().logical_and(at::rand({T, T}) > 0.2);
    expect_same_bits("masked " + s, {q, k, v, mask}, [](auto& t) {
      return at::scaled_dot_product_attention(t[0], t[1], t[2], t[3], 0.0, false, {}, true);
    });
  }
}

}  // namespace
}  // namespace lockstep::kernels
#endif

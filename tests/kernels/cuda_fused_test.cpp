// The fused CUDA kernels of kernels/fused.h against the composite aten
// sequences they replace, under Mode::batch_invariant: the SAME BITS, for
// fp32, bf16 and fp16, odd and even widths, 1 to 257 rows, strided views
// (the rows and heads of a fused projection), grouped-query heads, tokens
// spread over shuffled cache blocks, and once inside a CUDA graph. Each test
// calls the kernel itself (kernels/cuda/ops.h) and the public function (which
// must take the kernel, not its fallback). All tests skip without a GPU.
#ifdef LOCKSTEP_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cuda/ops.h"
#include "kernels/fused.h"
#include "kernels/mode.h"
#include "kernels/paged_attention.h"
#include "tests/kernels/cuda_test_support.h"
#include "tests/kernels/invariance.h"

namespace lockstep::kernels {
namespace {

using testing::bits_equal;
using testing::cuda_opts;

const std::vector<at::ScalarType> kDtypes = {at::kFloat, at::kBFloat16, at::kHalf};
const std::vector<int64_t> kWidths = {576, 2048, 64, 80, 100, 7};
const std::vector<int64_t> kRows = {1, 3, 32, 257};

std::string where(at::ScalarType t, int64_t rows, int64_t width) {
  std::ostringstream s;
  s << c10::toString(t) << " rows " << rows << " width " << width;
  return s.str();
}

// Values of a residual stream: mostly small, some large, a few exact zeros.
at::Tensor activations(std::vector<int64_t> shape, at::ScalarType t) {
  at::Tensor x = at::randn(shape, cuda_opts(at::kFloat)) * 3;
  x = x * (at::rand(shape, cuda_opts(at::kFloat)) < 0.05).to(at::kFloat) * 20 + x;
  return (x * (at::rand(shape, cuda_opts(at::kFloat)) > 0.01).to(at::kFloat)).to(t);
}

// Every dtype x width x row count of the norm tests, seeded, with a norm weight per width.
void for_each_norm_case(uint64_t seed, const std::vector<int64_t>& widths,
                        const std::function<void(at::ScalarType, int64_t width, int64_t rows, const at::Tensor& w)>& check) {
  at::manual_seed(seed);
  for (at::ScalarType t : kDtypes) {
    for (int64_t width : widths) {
      const at::Tensor w = (at::randn({width}, cuda_opts(at::kFloat)) * 0.5 + 1).to(t);
      for (int64_t rows : kRows) check(t, width, rows, w);
    }
  }
}

TEST(FusedCuda, RmsNormEqualsComposite) {
  SKIP_WITHOUT_GPU();
  const ModeGuard mode(Mode::batch_invariant);
  for_each_norm_case(17, kWidths, [](at::ScalarType t, int64_t width, int64_t rows, const at::Tensor& w) {
    // Contiguous rows, and the same rows as a slice of a wider projection.
    const at::Tensor wide = activations({rows, width + 24}, t);
    for (const at::Tensor& x : {wide.narrow(1, 0, width).contiguous(), wide.narrow(1, 8, width)}) {
      for (double eps : {1e-5, 1e-6}) {
        const at::Tensor want = fused::composite::rms_norm(x, w, eps);
        EXPECT_TRUE(bits_equal(cuda::fused_rms_norm(x, at::Tensor(), w, eps).first, want)) << where(t, rows, width);
        EXPECT_TRUE(bits_equal(fused::rms_norm(x, w, eps), want)) << where(t, rows, width);
      }
    }
  });
}

TEST(FusedCuda, AddRmsNormEqualsAddThenComposite) {
  SKIP_WITHOUT_GPU();
  const ModeGuard mode(Mode::batch_invariant);
  for_each_norm_case(18, kWidths, [](at::ScalarType t, int64_t width, int64_t rows, const at::Tensor& w) {
    const at::Tensor x = activations({rows, width}, t);
    const at::Tensor delta = activations({rows, width + 4}, t).narrow(1, 2, width);
    const at::Tensor sum = x + delta;
    const at::Tensor want = fused::composite::rms_norm(sum, w, 1e-5);
    auto [h, s] = cuda::fused_rms_norm(x, delta, w, 1e-5);
    EXPECT_TRUE(bits_equal(s, sum)) << where(t, rows, width);
    EXPECT_TRUE(bits_equal(h, want)) << where(t, rows, width);
    at::Tensor x2 = x.clone();
    EXPECT_TRUE(bits_equal(fused::add_rms_norm(x2, delta, w, 1e-5), want)) << where(t, rows, width);
    EXPECT_TRUE(bits_equal(x2, sum)) << where(t, rows, width);
  });
}

// Qwen3's q/k norms: rms_norm over the head dim of [N, H, D] views of a fused qkv.
TEST(FusedCuda, HeadRmsNormOfStridedHeadsEqualsComposite) {
  SKIP_WITHOUT_GPU();
  const ModeGuard mode(Mode::batch_invariant);
  for_each_norm_case(19, {64, 128, 80}, [](at::ScalarType t, int64_t d, int64_t rows, const at::Tensor& w) {
    const at::Tensor qkv = activations({rows, (8 + 2 + 2) * d}, t);
    for (const at::Tensor& x : {qkv.narrow(1, 0, 8 * d).view({rows, 8, d}), qkv.narrow(1, 8 * d, 2 * d).view({rows, 2, d})}) {
      const at::Tensor want = fused::composite::rms_norm(x, w, 1e-6);
      EXPECT_TRUE(bits_equal(cuda::fused_rms_norm(x, at::Tensor(), w, 1e-6).first, want)) << where(t, rows, d);
      EXPECT_TRUE(bits_equal(fused::rms_norm(x, w, 1e-6), want)) << where(t, rows, d);
    }
  });
}

// A step of `lengths` tokens per sequence at positions from `pos0s`, each
// sequence's blocks drawn at random (shuffled) from a pool of `blocks`.
struct StepCase {
  std::vector<PagedStep::Sequence> seqs;
  int64_t tokens = 0;
};

StepCase random_step(const std::vector<int64_t>& lengths, const std::vector<int64_t>& pos0s, int64_t block,
                     int64_t blocks, std::mt19937& rng) {
  std::vector<int32_t> ids(static_cast<size_t>(blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  StepCase c;
  size_t next = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    PagedStep::Sequence s{c.tokens, lengths[i], pos0s[i], {}};
    const int64_t need = (s.pos0 + s.length + block - 1) / block;
    for (int64_t b = 0; b < need; ++b) s.blocks.push_back(ids.at(next++));
    c.tokens += s.length;
    c.seqs.push_back(std::move(s));
  }
  return c;
}

struct RopeInputs {
  at::Tensor qkv, q, k, v, cos, sin, k_cache, v_cache;
};

RopeInputs rope_inputs(int64_t n, int64_t hq, int64_t hkv, int64_t d, int64_t blocks, int64_t block,
                       at::ScalarType t) {
  RopeInputs r;
  r.qkv = activations({n, (hq + 2 * hkv) * d}, t);
  r.q = r.qkv.narrow(1, 0, hq * d).view({n, hq, d});
  r.k = r.qkv.narrow(1, hq * d, hkv * d).view({n, hkv, d});
  r.v = r.qkv.narrow(1, (hq + hkv) * d, hkv * d).view({n, hkv, d});
  const at::Tensor angle = at::rand({n, 1, d / 2}, cuda_opts(at::kFloat)) * 100;
  r.cos = at::cos(at::cat({angle, angle}, -1)).to(t);
  r.sin = at::sin(at::cat({angle, angle}, -1)).to(t);
  r.k_cache = at::randn({blocks, hkv, block, d}, cuda_opts(t));
  r.v_cache = at::randn({blocks, hkv, block, d}, cuda_opts(t));
  return r;
}

TEST(FusedCuda, RopeAndCacheWriteEqualComposite) {
  SKIP_WITHOUT_GPU();
  const ModeGuard mode(Mode::batch_invariant);
  at::manual_seed(20);
  std::mt19937 rng(20);
  const int64_t block = 16, blocks = 64;
  struct Heads { int64_t hq, hkv, d; };
  for (at::ScalarType t : kDtypes) {
    for (Heads h : {Heads{8, 2, 64}, Heads{9, 3, 128}, Heads{4, 4, 80}, Heads{32, 8, 64}}) {
      // Decode steps (one token each, positions across several blocks) and a mixed step with prompts.
      for (const auto& [lengths, pos0s] : std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
               {{1}, {0}}, {{1, 1, 1}, {15, 16, 47}}, {{40, 1, 7}, {0, 100, 33}}, {{257}, {3}}}) {
        const StepCase sc = random_step(lengths, pos0s, block, blocks, rng);
        const PagedStep step(sc.seqs, block, 0, h.hkv, at::kCUDA);
        const RopeInputs in = rope_inputs(sc.tokens, h.hq, h.hkv, h.d, blocks, block, t);
        const at::Tensor kc_want = in.k_cache.clone(), vc_want = in.v_cache.clone();
        const at::Tensor q_want = fused::composite::rope(in.q, in.cos, in.sin);
        step.write(kc_want, fused::composite::rope(in.k, in.cos, in.sin));
        step.write(vc_want, in.v);
        const std::string at_case = where(t, sc.tokens, h.d) + " heads " + std::to_string(h.hq) + "/" +
                                    std::to_string(h.hkv);
        for (int call = 0; call < 2; ++call) {   // the kernel itself, then the public function
          const at::Tensor kc = in.k_cache.clone(), vc = in.v_cache.clone();
          const at::Tensor q = call == 0 ? cuda::fused_rope_write_kv(in.q, in.k, in.v, in.cos, in.sin,
                                                                     step.cache_rows(), kc, vc)
                                         : fused::rope_write_kv(in.q, in.k, in.v, in.cos, in.sin, kc, vc, step);
          EXPECT_TRUE(bits_equal(q, q_want)) << at_case << " call " << call;
          EXPECT_TRUE(bits_equal(kc, kc_want)) << at_case << " call " << call;
          EXPECT_TRUE(bits_equal(vc, vc_want)) << at_case << " call " << call;
        }
      }
    }
  }
}

TEST(FusedCuda, SiluGateEqualsComposite) {
  SKIP_WITHOUT_GPU();
  const ModeGuard mode(Mode::batch_invariant);
  at::manual_seed(21);
  for (at::ScalarType t : kDtypes) {
    for (int64_t width : {1536, 8192, 64, 100, 7}) {
      for (int64_t rows : kRows) {
        const at::Tensor gu = activations({rows, 2 * width}, t);
        const at::Tensor gate = gu.narrow(1, 0, width), up = gu.narrow(1, width, width);
        const at::Tensor want = at::silu(gate) * up;
        EXPECT_TRUE(bits_equal(cuda::fused_silu_gate(gate, up), want)) << where(t, rows, width);
        EXPECT_TRUE(bits_equal(fused::silu_gate(gate, up), want)) << where(t, rows, width);
        const at::Tensor g2 = gate.contiguous(), u2 = up.contiguous();   // two GEMMs' outputs
        EXPECT_TRUE(bits_equal(fused::silu_gate(g2, u2), want)) << where(t, rows, width);
      }
    }
  }
}

// Every gate value of a fine sweep (exp's range reduction and the rounding of
// 1 + exp(-x) are where a differently compiled silu would differ), and the
// special values.
TEST(FusedCuda, SiluGateSweepEqualsComposite) {
  SKIP_WITHOUT_GPU();
  const ModeGuard mode(Mode::batch_invariant);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (at::ScalarType t : kDtypes) {
    at::Tensor gate = at::linspace(-30, 30, 1 << 20, cuda_opts(at::kFloat));
    gate = at::cat({gate, at::tensor({0.f, -0.f, inf, -inf, nan, 1e-30f, -1e-30f, 88.f, -88.f, 100.f, -100.f},
                                     at::kFloat).to(at::kCUDA)})
               .to(t)
               .view({-1, 1});
    const at::Tensor up = at::ones_like(gate) * 1.25;
    EXPECT_TRUE(bits_equal(cuda::fused_silu_gate(gate, up), at::silu(gate) * up)) << c10::toString(t);
  }
}

TEST(FusedCuda, OutsideTheModeTheCompositeRuns) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(22);
  const at::Tensor x = activations({5, 576}, at::kBFloat16), w = at::randn({576}, cuda_opts(at::kBFloat16));
  for (Mode m : {Mode::off, Mode::batch_invariant}) {
    const ModeGuard mode(m);
    EXPECT_TRUE(bits_equal(fused::rms_norm(x, w, 1e-5), fused::composite::rms_norm(x, w, 1e-5))) << mode_name(m);
    EXPECT_TRUE(bits_equal(fused::silu_gate(x, w.expand({5, 576})), at::silu(x) * w)) << mode_name(m);
  }
}

// One decoder layer's fused chain captured into a CUDA graph on a side
// stream, replayed after the inputs change in place: the replay's bits are
// the eager composite's for the new inputs.
TEST(FusedCuda, CapturedAndReplayedInAGraph) {
  SKIP_WITHOUT_GPU();
  const ModeGuard mode(Mode::batch_invariant);
  at::manual_seed(23);
  std::mt19937 rng(23);
  const at::ScalarType t = at::kBFloat16;
  const int64_t hidden = 576, hq = 9, hkv = 3, d = 64, ffn = 1536, block = 16, blocks = 32;
  const StepCase sc = random_step({1, 1, 1, 1}, {0, 17, 31, 70}, block, blocks, rng);
  const PagedStep step(sc.seqs, block, 0, hkv, at::kCUDA);
  const int64_t n = sc.tokens;
  RopeInputs in = rope_inputs(n, hq, hkv, d, blocks, block, t);
  const at::Tensor x = activations({n, hidden}, t), delta = activations({n, hidden}, t);
  const at::Tensor w = at::randn({hidden}, cuda_opts(t)), gu = activations({n, 2 * ffn}, t);
  const at::Tensor k_cache = in.k_cache.clone(), v_cache = in.v_cache.clone();

  at::Tensor h, sum, q, act;
  auto run = [&] {
    at::Tensor xs = x;
    h = fused::add_rms_norm(xs, delta, w, 1e-5);
    sum = xs;
    q = fused::rope_write_kv(in.q, in.k, in.v, in.cos, in.sin, k_cache, v_cache, step);
    act = fused::silu_gate(gu.narrow(1, 0, ffn), gu.narrow(1, ffn, ffn));
  };
  run();   // warm-up outside the graph
  at::cuda::getCurrentCUDAStream().synchronize();
  at::cuda::CUDAGraph graph;
  {
    const c10::cuda::CUDAStreamGuard side(c10::cuda::getStreamFromPool());
    graph.capture_begin();
    run();
    graph.capture_end();
  }
  for (int replay = 0; replay < 2; ++replay) {
    x.copy_(activations({n, hidden}, t));
    delta.copy_(activations({n, hidden}, t));
    in.qkv.copy_(activations({n, (hq + 2 * hkv) * d}, t));
    gu.copy_(activations({n, 2 * ffn}, t));
    graph.replay();
    at::cuda::getCurrentCUDAStream().synchronize();
    const at::Tensor want_sum = x + delta;
    EXPECT_TRUE(bits_equal(sum, want_sum)) << "replay " << replay;
    EXPECT_TRUE(bits_equal(h, fused::composite::rms_norm(want_sum, w, 1e-5))) << "replay " << replay;
    EXPECT_TRUE(bits_equal(q, fused::composite::rope(in.q, in.cos, in.sin))) << "replay " << replay;
    const at::Tensor kc_want = in.k_cache.clone(), vc_want = in.v_cache.clone();
    step.write(kc_want, fused::composite::rope(in.k, in.cos, in.sin));
    step.write(vc_want, in.v);
    EXPECT_TRUE(bits_equal(k_cache, kc_want)) << "replay " << replay;
    EXPECT_TRUE(bits_equal(v_cache, vc_want)) << "replay " << replay;
    EXPECT_TRUE(bits_equal(act, at::silu(gu.narrow(1, 0, ffn)) * gu.narrow(1, ffn, ffn))) << "replay " << replay;
  }
}

// The decoder's fused projections (core/models/decoder_load.cpp): one GEMM
// over the concatenated weights of q/k/v, and of gate/up, must give each
// projection the bits of its own GEMM (the pinned plan of the fused N reduces
// K in the same order as the parts'), or every golden made with separate
// GEMMs would move. Shapes of the 1B Llama, SmolLM2-135M and a Llama-3-8B.
TEST(FusedCuda, FusedProjectionGemmEqualsSeparateGemms) {
  SKIP_WITHOUT_GPU();
  const ModeGuard mode(Mode::batch_invariant);
  at::manual_seed(23);
  struct Shape {
    int64_t k;
    std::vector<int64_t> parts;
  };
  const std::vector<Shape> shapes = {{2048, {2048, 512, 512}}, {2048, {8192, 8192}}, {576, {576, 192, 192}},
                                     {576, {1536, 1536}},      {4096, {4096, 1024, 1024}}, {4096, {14336, 14336}}};
  for (at::ScalarType t : kDtypes) {
    for (const Shape& shape : shapes) {
      std::vector<at::Tensor> parts;
      for (int64_t n : shape.parts) parts.push_back((at::randn({n, shape.k}, cuda_opts(at::kFloat)) / 40).to(t));
      const at::Tensor fused = at::cat(parts, 0);
      for (int64_t m : {1, 3, 32, 64, 257}) {
        const at::Tensor x = activations({m, shape.k}, t);
        const at::Tensor whole = at::linear(x, fused);
        int64_t at_col = 0;
        for (const at::Tensor& w : parts) {
          const int64_t n = w.size(0);
          EXPECT_TRUE(bits_equal(whole.narrow(1, at_col, n).contiguous(), at::linear(x, w)))
              << where(t, m, shape.k) << ", part of " << n << " rows at " << at_col << " of " << fused.size(0);
          at_col += n;
        }
      }
    }
  }
}

}  // namespace
}  // namespace lockstep::kernels
#endif

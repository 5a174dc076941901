// The decode step's CUDA graphs (core/models/decode_graphs.h). On the CPU:
// the attention seam a piecewise graph is cut at (DecoderModel::run with an
// AttentionSeam) computes the step run() computes without one. On a GPU:
// replaying a bucket's graph gives bitwise the eager step's logits, with
// lockstep's kernels (one graph) and with the mode off (piecewise graphs
// around the stock attention), step after step.
#include "core/models/decode_graphs.h"

#include <gtest/gtest.h>

#include <ATen/Context.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>

#include "core/engine/model_bundle.h"
#include "kernels/mode.h"
#include "tests/core/real_model.h"

namespace lockstep {
namespace {

using kernels::Mode;
using kernels::ModeGuard;
using Seam = testing_support::RealModelTest;

const std::vector<std::vector<int32_t>> kPrompts{{1, 2, 3, 4, 5}, {9, 8, 7}, {42}, {300, 301, 302, 303}};

// Caches of `pool` holding each prompt.
std::vector<KvCache> prefilled(const DecoderModel& m, const std::shared_ptr<KvPool>& pool) {
  std::vector<KvCache> caches;
  caches.reserve(kPrompts.size());
  for (const auto& p : kPrompts) {
    caches.emplace_back(pool, 64);
    m.forward(p, caches.back());
  }
  return caches;
}

// One decode step of every cache (token 100 + i for cache i) through a seam
// made for its prepared step (none when `seam_for` is empty).
at::Tensor run_step(const DecoderModel& m, std::vector<KvCache>& caches,
                    const std::function<DecoderModel::AttentionSeam(const DecoderModel::StepHandle&)>& seam_for) {
  std::vector<SequenceChunk> chunks;
  std::vector<int64_t> ids;
  for (size_t i = 0; i < caches.size(); ++i) {
    chunks.push_back({{100 + static_cast<int32_t>(i)}, &caches[i]});
    ids.push_back(100 + static_cast<int64_t>(i));
  }
  const DecoderModel::StepHandle step = m.prepare(chunks, 0, 0, nullptr);
  const at::Tensor logits =
      m.run(step, at::tensor(ids, at::kLong), /*last_only=*/true, seam_for ? seam_for(step) : DecoderModel::AttentionSeam{});
  m.advance(chunks);
  return logits;
}

TEST_F(Seam, AttendAtTheSeamIsTheStepWithoutOne) {
  const DecoderModel& m = bundle_->model;
  for (const Mode mode : {Mode::batch_invariant, Mode::off}) {
    const ModeGuard guard(mode);
    const std::shared_ptr<KvPool> pool = m.new_pool(64);
    std::vector<KvCache> plain = prefilled(m, pool), seamed = prefilled(m, pool), zeroed = prefilled(m, pool);
    const at::Tensor want = run_step(m, plain, {});
    std::vector<int64_t> layers;
    const at::Tensor got = run_step(m, seamed, [&](const DecoderModel::StepHandle& step) {
      return [&](int64_t layer, const at::Tensor& q) {
        layers.push_back(layer);
        return m.attend(step, layer, q);
      };
    });
    EXPECT_TRUE(at::equal(got, want));
    ASSERT_EQ(static_cast<int64_t>(layers.size()), m.config().n_layers);
    for (size_t i = 0; i < layers.size(); ++i) EXPECT_EQ(layers[i], static_cast<int64_t>(i));
    // Control: the seam's result is what the layers go on with.
    const at::Tensor zero = run_step(m, zeroed, [](const DecoderModel::StepHandle&) {
      return [](int64_t, const at::Tensor& q) { return at::zeros_like(q); };
    });
    EXPECT_FALSE(at::equal(zero, want));
  }
}

// GPU: 4 sequences (a bucket of its own, no padding) decoded 6 steps eagerly
// and through the graphs, the same tokens fed to both. The model: the
// default one, or the folder in $LOCKSTEP_ENGINE_MODEL.
TEST(DecodeGraphsCuda, ReplayEqualsTheEagerStepInEveryMode) {
  if (!at::globalContext().hasCUDA()) GTEST_SKIP() << "no CUDA GPU";
  const char* extra = std::getenv("LOCKSTEP_ENGINE_MODEL");   // ci/gpu-perf.sh: a random model of SmolLM2's shapes
  const std::string path = extra != nullptr ? extra : LOCKSTEP_DEFAULT_MODEL;
  if (::access(path.c_str(), R_OK) != 0) GTEST_SKIP() << "no model";
  const auto bundle = ModelBundle::load(path, LoadOptions{at::Device(at::kCUDA), at::kBFloat16});
  const auto model = std::shared_ptr<const DecoderModel>(&bundle->model, [](const DecoderModel*) {});
  for (const Mode mode : {Mode::batch_invariant, Mode::off}) {
    SCOPED_TRACE(mode == Mode::off ? "mode off" : "batch_invariant");
    const ModeGuard guard(mode);
    const std::shared_ptr<KvPool> pool = model->new_pool(64);
    DecodeGraphs graphs(model, pool, 8);
    std::vector<KvCache> eager = prefilled(*model, pool), graphed = prefilled(*model, pool);
    std::vector<int32_t> next{100, 101, 102, 103};
    for (int t = 0; t < 6; ++t) {
      std::vector<SequenceChunk> a, b;
      for (size_t i = 0; i < next.size(); ++i) {
        a.push_back({{next[i]}, &eager[i]});
        b.push_back({{next[i]}, &graphed[i]});
      }
      const at::Tensor want = model->forward_last_on_device(a);
      const at::Tensor got = graphs.step(b);
      ASSERT_TRUE(at::equal(got, want)) << "step " << t;
      const at::Tensor argmax = want.argmax(1).cpu();
      for (size_t i = 0; i < next.size(); ++i) next[i] = static_cast<int32_t>(argmax[static_cast<int64_t>(i)].item<int64_t>());
    }
    EXPECT_EQ(graphs.captured(), 1);
  }
}

}  // namespace
}  // namespace lockstep

// Pipelined steps (EngineOptions::pipeline): when every token of step t is
// chosen on the device (greedy or seeded sampling, kernels/token_choice.h),
// step t+1 is launched before step t's records are taken, its inputs the
// device's choices of step t. A request that ends by a stop id
// leaves a row in the step after, computed and dropped; one that ends by
// max_new_tokens leaves none; requests that join mid-decode prefill in
// pipelined steps. Every request keeps its solo bits; with the mode off the
// same comparison finds requests that differ (the negative control).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "core/engine/engine.h"
#include "tests/core/real_model.h"

namespace lockstep {
namespace {

using EnginePipeline = testing_support::RealModelTest;
using Case = testing_support::Request;
using testing_support::each_alone;
using testing_support::run_alone;

// Eight requests, three of them sampled (one with top_k, one with top_p);
// three stop at a token their unstopped run produces at step 1-3 (a token
// not produced before it), so they end early.
std::vector<Case> cases(const ModelBundle& bundle) {
  const char* texts[] = {"Name three rivers.", "What is 17 times 23?", "Write a haiku about rain.",
                         "Why is the sky blue?", "List prime numbers below 30.", "Say hello in Spanish.",
                         "What is a GPU?", "Count to five."};
  std::vector<Case> out;
  const kernels::ModeGuard guard(kernels::Mode::batch_invariant);
  for (int i = 0; i < 8; ++i) {
    Case c;
    c.prompt = bundle.prompt_ids(texts[i]);
    c.options.max_new_tokens = 4 + i;
    if (i == 2 || i == 5 || i == 7) {
      c.options.sampling.temperature = 0.9;
      c.options.sampling.seed = 100 + i;
      c.options.sampling.top_k = i == 5 ? 20 : 0;
      c.options.sampling.top_p = i == 7 ? 0.8 : 1.0;
    }
    if (i % 3 == 1) {
      const std::vector<int32_t> ids = run_alone(bundle, c).output_ids;
      for (size_t k = 1; k < std::min<size_t>(ids.size() - 1, 4); ++k) {
        if (std::find(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids[k]) == ids.begin() + static_cast<std::ptrdiff_t>(k)) {
          c.options.stop_ids = {ids[k]};
          break;
        }
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Half the cases at once, the other half 30 ms later from another thread (joining mid-decode).
std::vector<Generation> through_engine(const ModelBundle& bundle, const std::vector<Case>& cs, kernels::Mode mode,
                                       bool pipeline, EngineStats* stats) {
  auto model = std::shared_ptr<const DecoderModel>(&bundle.model, [](const DecoderModel*) {});
  EngineOptions options;
  options.max_batch = 8;
  options.mode = mode;
  options.pipeline = pipeline;
  Engine engine(model, bundle.eos_ids(), options);
  std::vector<Engine::Request> first, second;
  for (size_t i = 0; i < cs.size(); ++i) (i < cs.size() / 2 ? first : second).push_back({cs[i].prompt, cs[i].options, {}});
  std::vector<std::future<Generation>> futures = engine.submit_all(std::move(first));
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    for (auto& f : engine.submit_all(std::move(second))) futures.push_back(std::move(f));
  });
  later.join();
  std::vector<Generation> out;
  for (auto& f : futures) out.push_back(f.get());
  *stats = engine.stats();
  return out;
}

int differing(const std::vector<Generation>& a, const std::vector<Generation>& b) {
  int n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    n += a[i].output_ids != b[i].output_ids || a[i].step_logits_sha256 != b[i].step_logits_sha256 ||
         a[i].stop_reason != b[i].stop_reason;
  }
  return n;
}

TEST_F(EnginePipeline, PipelinedStepsKeepEveryRequestsSoloBits) {
  const std::vector<Case> cs = cases(*bundle_);
  const std::vector<Generation> alone = each_alone(*bundle_, cs, kernels::Mode::batch_invariant);
  EngineStats stats;
  const std::vector<Generation> pipelined = through_engine(*bundle_, cs, kernels::Mode::batch_invariant, true, &stats);
  EXPECT_EQ(differing(pipelined, alone), 0);
  for (size_t i = 0; i < cs.size(); ++i) {
    EXPECT_EQ(pipelined[i].output_ids, alone[i].output_ids) << "request " << i;
    EXPECT_EQ(pipelined[i].step_logits_sha256, alone[i].step_logits_sha256) << "request " << i;
    EXPECT_EQ(pipelined[i].step_places.size(), pipelined[i].output_ids.size());
  }
  std::cout << "pipelined: " << stats.pipelined_steps << " of " << stats.steps << " steps, largest batch "
            << stats.largest_batch << "\n";
  EXPECT_GT(stats.pipelined_steps, stats.steps / 2) << "the steps were not pipelined: the test proves nothing";
  EXPECT_GT(stats.largest_batch, 4) << "the later requests never joined the others";
  const auto stopped = std::count_if(alone.begin(), alone.end(), [](const Generation& g) { return g.stop_reason == "stop_id"; });
  EXPECT_GE(stopped, 2) << "no request ended by a stop id: no dropped row was tested";

  // The same engine without pipelining (two of the requests): the same records, no pipelined step.
  EngineStats plain;
  const std::vector<Case> two(cs.begin(), cs.begin() + 2);
  const std::vector<Generation> stepwise = through_engine(*bundle_, two, kernels::Mode::batch_invariant, false, &plain);
  EXPECT_EQ(differing(stepwise, {alone[0], alone[1]}), 0);
  EXPECT_EQ(plain.pipelined_steps, 0);
}

TEST_F(EnginePipeline, WithTheModeOffPipelinedRequestsDiffer) {
  const std::vector<Case> cs = cases(*bundle_);
  const std::vector<Generation> alone = each_alone(*bundle_, cs, kernels::Mode::off);
  EngineStats stats;
  const std::vector<Generation> pipelined = through_engine(*bundle_, cs, kernels::Mode::off, true, &stats);
  const int differ = differing(pipelined, alone);
  std::cout << "mode off, pipelined: " << differ << " of " << cs.size() << " requests differ from their solo runs\n";
  EXPECT_GT(stats.pipelined_steps, 0);
  EXPECT_GT(differ, 0);
}

}  // namespace
}  // namespace lockstep

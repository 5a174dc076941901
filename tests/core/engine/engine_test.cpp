// The batching engine's promise: requests submitted concurrently from many
// threads, batched dynamically (prefills beside decodes, joining and leaving
// at different steps), each get bitwise the tokens and per-step logits
// digests of generate() alone, greedy and seeded sampling alike. With the
// mode off (stock kernels) the same comparison is printed, to show what the
// mode fixes.
#include "core/engine/engine.h"

#include <gtest/gtest.h>

#include <ATen/Context.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "core/engine/model_bundle.h"
#include "core/error.h"
#include "tests/core/real_model.h"

namespace lockstep {
namespace {

using EngineTest = testing_support::RealModelTest;
using Job = testing_support::Request;

std::vector<Job> jobs(const ModelBundle& bundle, int n) {
  const char* texts[] = {"Name three rivers.", "What is 17 times 23?", "Write a haiku about rain.",
                         "Translate 'good morning' to French.", "Why is the sky blue?", "List prime numbers below 30."};
  std::mt19937 rng(7);
  std::vector<Job> out;
  for (int i = 0; i < n; ++i) {
    Job j;
    j.prompt = bundle.prompt_ids(texts[i % 6]);
    j.options.max_new_tokens = 3 + static_cast<int64_t>(rng() % 10);
    if (i % 3 == 2) {   // seeded sampling; its own stream
      j.options.sampling.temperature = 0.8;
      j.options.sampling.top_p = 0.95;
      j.options.sampling.seed = 11;
      j.options.sampling.stream = static_cast<uint64_t>(i);
    }
    out.push_back(j);
  }
  return out;
}

// Runs every job through one engine from `threads` threads, staggered.
std::vector<Generation> through_engine(const ModelBundle& bundle, const std::vector<Job>& js, kernels::Mode mode,
                                       EngineStats* stats, int64_t max_batch = 8) {
  auto model = std::shared_ptr<const DecoderModel>(&bundle.model, [](const DecoderModel*) {});
  Engine engine(model, bundle.eos_ids(), EngineOptions{max_batch, 8192, mode});
  std::vector<std::future<Generation>> futures(js.size());
  std::vector<std::thread> threads;
  const size_t n_threads = 4;
  for (size_t t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < js.size(); i += n_threads) {
        futures[i] = engine.submit(js[i].prompt, js[i].options);
        std::this_thread::sleep_for(std::chrono::milliseconds(5 * (i % 4)));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<Generation> out;
  for (auto& f : futures) out.push_back(f.get());
  *stats = engine.stats();
  return out;
}

// Every job alone (generate's loop), then all of them through one engine.
void expect_engine_equals_solo(const ModelBundle& bundle, const std::vector<Job>& js, int64_t max_batch) {
  for (kernels::Mode mode : {kernels::Mode::batch_invariant, kernels::Mode::off}) {
    const std::vector<Generation> solo = testing_support::each_alone(bundle, js, mode);
    EngineStats stats;
    const std::vector<Generation> batched = through_engine(bundle, js, mode, &stats, max_batch);
    int differing = 0;
    for (size_t i = 0; i < js.size(); ++i) {
      const bool same = batched[i].output_ids == solo[i].output_ids &&
                        batched[i].step_logits_sha256 == solo[i].step_logits_sha256;
      differing += !same;
      if (mode == kernels::Mode::batch_invariant) {
        EXPECT_EQ(batched[i].output_ids, solo[i].output_ids) << "request " << i;
        EXPECT_EQ(batched[i].step_logits_sha256, solo[i].step_logits_sha256) << "request " << i;
        EXPECT_EQ(batched[i].stop_reason, solo[i].stop_reason) << "request " << i;
      }
    }
    if (mode == kernels::Mode::batch_invariant) {
      EXPECT_GT(stats.largest_batch, 1) << "the engine never batched: the test proves nothing";
      // On a GPU the decode steps replay CUDA graphs: the solo runs above are
      // eager, so this also checks graphs == eager, bit for bit.
      if (bundle.model.device().is_cuda()) EXPECT_GT(stats.graph_steps, 0) << "no decode step replayed a graph";
    }
    std::cout << "mode " << (mode == kernels::Mode::off ? "off" : "batch_invariant") << ": " << differing << " of "
              << js.size() << " requests differ from their solo run (steps " << stats.steps << ", largest batch "
              << stats.largest_batch << ", graph steps " << stats.graph_steps << ")\n";
  }
}

TEST_F(EngineTest, ConcurrentRequestsEqualTheirSoloRuns) { expect_engine_equals_solo(*bundle_, jobs(*bundle_, 12), 8); }

// The same on the GPU in bf16: the default model, and the model folder in
// $LOCKSTEP_ENGINE_MODEL if set (ci/gpu-engine.sh: a ~1B Llama-shaped one),
// with 32 requests at once. Skipped without a CUDA GPU.
TEST(EngineCuda, ConcurrentRequestsEqualTheirSoloRunsInBf16) {
  if (!at::globalContext().hasCUDA()) GTEST_SKIP() << "no CUDA GPU";
  std::vector<std::string> paths;
  if (::access(LOCKSTEP_DEFAULT_MODEL, R_OK) == 0) paths.push_back(LOCKSTEP_DEFAULT_MODEL);
  if (const char* extra = std::getenv("LOCKSTEP_ENGINE_MODEL")) paths.push_back(extra);
  if (paths.empty()) GTEST_SKIP() << "no model";
  // $LOCKSTEP_ENGINE_DTYPE: fp16 or fp32 instead of bf16.
  const std::string name = std::getenv("LOCKSTEP_ENGINE_DTYPE") ? std::getenv("LOCKSTEP_ENGINE_DTYPE") : "bf16";
  const at::ScalarType dtype = name == "fp16" ? at::kHalf : name == "fp32" ? at::kFloat : at::kBFloat16;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    const auto bundle = ModelBundle::load(path, LoadOptions{at::Device(at::kCUDA), dtype});
    expect_engine_equals_solo(*bundle, jobs(*bundle, 40), 32);
  }
}

TEST_F(EngineTest, GenerateEqualsDecodingLoop) {
  GenerateOptions options;
  options.max_new_tokens = 6;
  const std::vector<int32_t> prompt = bundle_->prompt_ids("Hello!");
  Generation a;
  {
    const kernels::ModeGuard guard(kernels::Mode::batch_invariant);   // the engine's default mode
    a = generate(bundle_->model, prompt, bundle_->tokenizer.eos_id(), options);
  }
  auto model = std::shared_ptr<const DecoderModel>(&bundle_->model, [](const DecoderModel*) {});
  Engine engine(model, {bundle_->tokenizer.eos_id()});
  const Generation b = engine.submit(prompt, options).get();
  EXPECT_EQ(a.output_ids, b.output_ids);
  EXPECT_EQ(a.step_logits_sha256, b.step_logits_sha256);
}

TEST_F(EngineTest, BadRequestsFailAtSubmit) {
  auto model = std::shared_ptr<const DecoderModel>(&bundle_->model, [](const DecoderModel*) {});
  Engine engine(model, bundle_->eos_ids());
  GenerateOptions sampled;
  sampled.sampling.temperature = 0.7;   // no seed
  EXPECT_THROW(engine.submit({1, 2, 3}, sampled), Error);
  EXPECT_THROW(engine.submit({}, GenerateOptions{}), Error);
  GenerateOptions huge;
  huge.max_new_tokens = 1 << 30;
  EXPECT_THROW(engine.submit({1}, huge), Error);
  EXPECT_THROW(engine.submit({1 << 30}, GenerateOptions{}), Error);
  // The engine keeps serving after refusing requests.
  GenerateOptions two;
  two.max_new_tokens = 2;
  EXPECT_EQ(engine.submit({1, 2, 3}, two).get().output_ids.size(), 2u);
}

// A request cancelled mid-decode ends before the next step with the tokens so
// far (stop reason "cancelled"), one cancelled before admission with none, and
// the request decoding beside it keeps its solo bits.
TEST_F(EngineTest, CancelledRequestsEndEarlyAndTheirNeighbourKeepsItsBits) {
  GenerateOptions neighbour;
  neighbour.max_new_tokens = 10;
  neighbour.stop_at_eos = false;
  const std::vector<int32_t> prompt = bundle_->prompt_ids("Name three rivers.");
  Generation solo;
  {
    const kernels::ModeGuard guard(kernels::Mode::batch_invariant);
    solo = generate(bundle_->model, prompt, bundle_->tokenizer.eos_id(), neighbour);
  }
  auto model = std::shared_ptr<const DecoderModel>(&bundle_->model, [](const DecoderModel*) {});
  Engine engine(model, bundle_->eos_ids());
  auto flag = std::make_shared<std::atomic<bool>>(false);
  GenerateOptions long_one;
  long_one.max_new_tokens = 200;
  long_one.stop_at_eos = false;
  long_one.cancel = flag;
  int64_t seen = 0;
  long_one.on_token = [&](int32_t, bool, const StepLogprobs*) {
    if (++seen == 3) *flag = true;   // the client leaves after its third token
  };
  auto early = std::make_shared<std::atomic<bool>>(true);
  GenerateOptions never;
  never.cancel = early;
  std::vector<Engine::Request> requests;
  requests.push_back({bundle_->prompt_ids("Tell me a very long story."), long_one, {}});
  requests.push_back({prompt, neighbour, {}});
  requests.push_back({prompt, never, {}});
  std::vector<std::future<Generation>> futures = engine.submit_all(std::move(requests));
  const Generation cancelled = futures[0].get();
  EXPECT_EQ(cancelled.stop_reason, "cancelled");
  EXPECT_EQ(cancelled.output_ids.size(), 3u);
  EXPECT_EQ(cancelled.step_logits_sha256.size(), 3u);
  const Generation beside = futures[1].get();
  EXPECT_EQ(beside.output_ids, solo.output_ids);
  EXPECT_EQ(beside.step_logits_sha256, solo.step_logits_sha256);
  EXPECT_GT(beside.step_places.front().batch, 1) << "the neighbour never shared a step: the test proves nothing";
  const Generation none = futures[2].get();
  EXPECT_EQ(none.stop_reason, "cancelled");
  EXPECT_TRUE(none.output_ids.empty());
  EXPECT_EQ(engine.stats().cancelled, 2);
}

}  // namespace
}  // namespace lockstep

// The engine's property, on a tiny random Llama (ci/make_random_llama.py
// --tiny: 2 layers, hidden 256, 4/2 heads of 64, vocab 2048, context 4096):
// 200 requests from 8 threads, prompts of 1-2048 tokens, random arrival
// times (so requests join while others prefill or decode), greedy and seeded
// sampling with assorted settings, chunked prefills (512 prompt tokens a
// step), a KV-cache budget small enough that requests wait for blocks, and
// digests hashed by a DigestPool. In batch_invariant mode every request's
// tokens and every step's logits digest equal its solo generate() run; with
// the mode off, some differ (the negative control).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/engine/drive.h"
#include "core/engine/engine.h"
#include "core/error.h"
#include "core/models/decoder.h"
#include "core/models/hf_config.h"
#include "core/util/sha256.h"
#include "core/weights/safetensors_source.h"
#include "kernels/mode.h"

namespace lockstep {
namespace {

class EngineProperty : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Made once per version of the generator, in the build tree, renamed into
    // place so that concurrent test processes never see half a folder.
    const char* given = std::getenv("LOCKSTEP_PROPERTY_MODEL");
    const std::string script = LOCKSTEP_SOURCE_DIR "/ci/make_random_llama.py";
    const std::string dir = std::string(LOCKSTEP_BINARY_DIR) + "/tiny-llama-" + sha256_file(script).substr(0, 16);
    if (given == nullptr && ::access((dir + "/model.safetensors").c_str(), R_OK) != 0) {
      const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
      const std::string cmd = "'" LOCKSTEP_PYTHON "' '" + script + "' --tiny --out '" + tmp + "' >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) {
        failure_ = "make_random_llama.py failed (run it by hand: " + cmd + ")";
        return;
      }
      if (::rename(tmp.c_str(), dir.c_str()) != 0) std::system(("rm -rf '" + tmp + "'").c_str());
    }
    // On the GPU machine (ci/gpu-engine.sh): LOCKSTEP_PROPERTY_MODEL (an HF folder, e.g. the 1B
    // random Llama) on CUDA in bf16 instead of the tiny model on the CPU.
    LoadOptions load;
    if (given != nullptr) {
      const char* device = std::getenv("LOCKSTEP_PROPERTY_DEVICE");
      load.device = at::Device(device != nullptr ? device : "cuda");
      load.dtype = at::kBFloat16;
    }
    const std::string path = given != nullptr ? given : dir;
    model_ = std::make_shared<const DecoderModel>(DecoderModel::load(read_hf_config(path), *open_safetensors(path), load));
    vocab_ = model_->config().vocab;
  }
  void SetUp() override { ASSERT_TRUE(failure_.empty()) << failure_; }

  static std::vector<TimedRequest> requests(int n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    std::vector<TimedRequest> out;
    for (int i = 0; i < n; ++i) {
      TimedRequest r;
      // Mostly short prompts, a long one now and then (chunked over several steps).
      const int64_t len = uniform(0, 7) == 0 ? uniform(513, 2048) : uniform(1, 160);
      for (int64_t t = 0; t < len; ++t) r.prompt.push_back(static_cast<int32_t>(uniform(0, vocab_ - 1)));
      r.options.max_new_tokens = uniform(1, 24);
      r.options.stop_at_eos = false;
      if (i % 2 == 1) {   // seeded sampling, each with its own settings
        r.options.sampling.temperature = 0.3 + 0.1 * static_cast<double>(uniform(0, 12));
        r.options.sampling.top_k = uniform(0, 2) == 0 ? 0 : uniform(1, 64);
        r.options.sampling.top_p = uniform(0, 2) == 0 ? 1.0 : 0.5 + 0.05 * static_cast<double>(uniform(0, 9));
        r.options.sampling.seed = static_cast<uint64_t>(uniform(0, 3)) << 62 | static_cast<uint64_t>(i);
        r.options.sampling.stream = static_cast<uint64_t>(i);
      }
      r.delay_us = uniform(0, 30000);
      out.push_back(std::move(r));
    }
    return out;
  }

  // How many requests differ (tokens or any step's digest) from their solo runs.
  static int differing(kernels::Mode mode, const std::vector<TimedRequest>& reqs, EngineStats* stats) {
    std::vector<Generation> solo;
    {
      const kernels::ModeGuard guard(mode);
      for (const TimedRequest& r : reqs) solo.push_back(generate(*model_, r.prompt, -1, r.options));
    }
    EngineOptions options;
    options.max_batch = 16;
    options.max_prefill_tokens = 512;
    options.mode = mode;
    // Room for the longest request (2048 + 24 positions) and a little more:
    // requests wait for blocks whenever a long one runs.
    options.kv_cache_bytes = 2200 * KvPool::bytes_per_position(model_->config(), model_->dtype());
    options.digest_threads = 2;
    Engine engine(model_, {}, options);
    const std::vector<Generation> batched = submit_concurrently(engine, reqs, 8);
    *stats = engine.stats();
    int differ = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      const bool same = batched[i].output_ids == solo[i].output_ids &&
                        batched[i].step_logits_sha256 == solo[i].step_logits_sha256;
      EXPECT_EQ(batched[i].step_places.size(), batched[i].output_ids.size());
      differ += same ? 0 : 1;
    }
    return differ;
  }

  static inline std::string failure_;
  static inline std::shared_ptr<const DecoderModel> model_;
  static inline int64_t vocab_ = 0;
};

TEST_F(EngineProperty, EveryRequestEqualsItsSoloRunUnderLoad) {
  // LOCKSTEP_PROPERTY_REQUESTS: fewer under the sanitizers (ci/sanitize.sh).
  const char* n = std::getenv("LOCKSTEP_PROPERTY_REQUESTS");
  const std::vector<TimedRequest> reqs = requests(n != nullptr ? std::atoi(n) : 200, 2026);
  EngineStats stats;
  EXPECT_EQ(differing(kernels::Mode::batch_invariant, reqs, &stats), 0);
  std::cout << "batch_invariant: steps " << stats.steps << ", largest batch " << stats.largest_batch
            << ", steps a request waited for KV blocks " << stats.waited_for_memory << ", decode steps from CUDA graphs "
            << stats.graph_steps << ", pipelined " << stats.pipelined_steps << "\n";
  // Steps launched before the previous one's records, sampled requests among them (their tokens
  // chosen on the device: kernels/token_choice.h).
  EXPECT_GT(stats.pipelined_steps, 0);
  // On a GPU, graphs on: the solo runs are eager, so graphs == eager too.
  if (model_->device().is_cuda()) EXPECT_GT(stats.graph_steps, 0);
  // The load really batched requests, chunked prompts and filled the cache.
  EXPECT_GE(stats.largest_batch, std::min<int64_t>(8, static_cast<int64_t>(reqs.size()) / 4));
  EXPECT_GT(stats.waited_for_memory, 0);
}

TEST_F(EngineProperty, WithTheModeOffSomeRequestsDiffer) {
  const std::vector<TimedRequest> reqs = requests(60, 7);
  EngineStats stats;
  const int differ = differing(kernels::Mode::off, reqs, &stats);
  std::cout << "mode off: " << differ << " of " << reqs.size() << " requests differ from their solo runs\n";
  EXPECT_GT(differ, 0);
}

TEST_F(EngineProperty, ARequestLargerThanTheCacheIsRefusedAndOthersGoOn) {
  EngineOptions options;
  options.kv_cache_bytes = 64 * KvPool::bytes_per_position(model_->config(), model_->dtype());
  Engine engine(model_, {}, options);
  GenerateOptions big;
  big.max_new_tokens = 60;
  try {
    engine.submit(std::vector<int32_t>(10, 1), big);
    FAIL() << "a request of 70 positions fit a 64-position cache";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KV cache"), std::string::npos) << e.what();
  }
  GenerateOptions fits;
  fits.max_new_tokens = 40;   // 50 positions: 4 blocks of 16; two such requests take turns
  std::vector<std::future<Generation>> done;
  for (int i = 0; i < 3; ++i) done.push_back(engine.submit(std::vector<int32_t>(10, i + 1), fits));
  for (auto& f : done) EXPECT_EQ(f.get().output_ids.size(), 40u);
  EXPECT_GT(engine.stats().waited_for_memory, 0);
}

// submit_all queues a group at once: admitted in one step, in order (their
// rows); the step numbers line up requests of one engine, and a request
// submitted later joins at a later step while the others decode.
TEST_F(EngineProperty, SubmitAllAdmitsAGroupInOneStepInOrder) {
  Engine engine(model_, {});
  std::vector<Engine::Request> group;
  for (int i = 0; i < 3; ++i) {
    GenerateOptions o;
    o.max_new_tokens = 6 + 2 * i;
    o.stop_at_eos = false;
    group.push_back(Engine::Request{std::vector<int32_t>(5 + i, i + 1), o, {}});
  }
  std::vector<std::future<Generation>> futures = engine.submit_all(std::move(group));
  std::vector<Generation> done;
  for (auto& f : futures) done.push_back(f.get());
  for (int i = 0; i < 3; ++i) {
    const std::vector<StepPlace>& places = done[static_cast<size_t>(i)].step_places;
    ASSERT_EQ(places.size(), static_cast<size_t>(6 + 2 * i));
    EXPECT_EQ(places[0].batch, 3);
    EXPECT_EQ(places[0].row, i);
    EXPECT_EQ(places[0].step, done[0].step_places[0].step);
    for (size_t t = 1; t < places.size(); ++t) EXPECT_EQ(places[t].step, places[t - 1].step + 1);
  }
  EXPECT_EQ(done[2].step_places.back().batch, 1);   // the others have finished
  EXPECT_THROW(engine.submit_all({Engine::Request{{1, 2}, GenerateOptions{}, {}}, Engine::Request{{-1}, GenerateOptions{}, {}}}),
               Error);
  EXPECT_EQ(engine.stats().requests, 3);   // a bad request queues none of its group
}

// Requests that share a system prompt, and a session's second turn whose
// prompt holds the first turn and its answer, reuse published blocks; every
// one is bitwise its solo run (a full recompute), also when the pool is so
// small that published blocks are evicted and recomputed. With the mode off,
// reusing a prefix changes bits (the negative control).
std::vector<TimedRequest> shared_prefix_requests(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> system(100);
  for (auto& t : system) t = static_cast<int32_t>(rng() % 2048);
  std::vector<TimedRequest> out;
  for (int i = 0; i < 24; ++i) {
    TimedRequest r;
    r.prompt = system;
    const uint64_t suffix = i == 0 ? 30 : 1 + rng() % 40;   // request 0: 130 + 12 positions
    for (uint64_t t = 0; t < suffix; ++t) r.prompt.push_back(static_cast<int32_t>(rng() % 2048));
    r.options.max_new_tokens = i == 0 ? 12 : 1 + static_cast<int64_t>(rng() % 20);
    r.options.stop_at_eos = false;
    r.delay_us = static_cast<int64_t>(rng() % 20000);
    out.push_back(std::move(r));
  }
  return out;
}

int differing_with_prefix_cache(kernels::Mode mode, const std::vector<TimedRequest>& reqs, int64_t kv_positions,
                                EngineStats* stats, const DecoderModel& model,
                                const std::shared_ptr<const DecoderModel>& shared) {
  EngineOptions options;
  options.max_batch = 6;
  options.mode = mode;
  options.kv_cache_bytes = kv_positions * KvPool::bytes_per_position(model.config(), model.dtype());
  options.digest_threads = 0;   // digests after each step (DigestPool::run_queued), the other pool mode
  Engine engine(shared, {}, options);
  // Warm the cache with the first request alone, then the rest concurrently.
  const std::vector<Generation> first = submit_concurrently(engine, {reqs[0]}, 1);
  const std::vector<Generation> rest =
      submit_concurrently(engine, std::vector<TimedRequest>(reqs.begin() + 1, reqs.end()), 4);
  // A second turn: the first request's prompt and answer, then more text.
  TimedRequest turn2 = reqs[0];
  turn2.prompt.insert(turn2.prompt.end(), first[0].output_ids.begin(), first[0].output_ids.end());
  for (int t = 0; t < 17; ++t) turn2.prompt.push_back(100 + t);
  const Generation second = submit_concurrently(engine, {turn2}, 1)[0];
  *stats = engine.stats();
  const kernels::ModeGuard guard(mode);
  int differ = 0;
  auto compare = [&](const TimedRequest& r, const Generation& g) {
    const Generation solo = generate(model, r.prompt, -1, r.options);
    differ += g.output_ids == solo.output_ids && g.step_logits_sha256 == solo.step_logits_sha256 ? 0 : 1;
  };
  compare(reqs[0], first[0]);
  for (size_t i = 1; i < reqs.size(); ++i) compare(reqs[i], rest[i - 1]);
  compare(turn2, second);
  return differ;
}

TEST_F(EngineProperty, PrefixReuseIsBitwiseAFullRecompute) {
  const std::vector<TimedRequest> reqs = shared_prefix_requests(5);
  EngineStats stats;
  EXPECT_EQ(differing_with_prefix_cache(kernels::Mode::batch_invariant, reqs, 4096, &stats, *model_, model_), 0);
  std::cout << "prefix cache: " << stats.reused_positions << " positions reused\n";
  // Every later request reuses the 96 positions of the system prompt's full
  // blocks; turn 2 the 128 of request 0's 141 computed positions.
  EXPECT_EQ(stats.reused_positions, 23 * 96 + 128);
  EXPECT_EQ(stats.evicted_blocks, 0);
}

TEST_F(EngineProperty, PrefixReuseSurvivesEvictions) {
  const std::vector<TimedRequest> reqs = shared_prefix_requests(6);
  EngineStats stats;
  // Room for about two requests: published blocks are evicted, then recomputed and published again.
  EXPECT_EQ(differing_with_prefix_cache(kernels::Mode::batch_invariant, reqs, 320, &stats, *model_, model_), 0);
  std::cout << "prefix cache, small pool: " << stats.reused_positions << " positions reused, "
            << stats.evicted_blocks << " blocks evicted\n";
  EXPECT_GT(stats.evicted_blocks, 0);
  EXPECT_GT(stats.reused_positions, 0);
}

TEST_F(EngineProperty, WithTheModeOffPrefixReuseChangesBits) {
  const std::vector<TimedRequest> reqs = shared_prefix_requests(5);
  EngineStats stats;
  const int differ = differing_with_prefix_cache(kernels::Mode::off, reqs, 4096, &stats, *model_, model_);
  std::cout << "mode off, prefix cache: " << differ << " of " << reqs.size() + 1 << " requests differ\n";
  EXPECT_GT(differ, 0);
}

}  // namespace
}  // namespace lockstep

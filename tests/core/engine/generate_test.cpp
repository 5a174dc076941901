// Decoding-loop contract: greedy is reproducible bit for bit, sampling
// needs a seed and is reproducible with it, stop conditions hold, and the
// counter-based RNG matches the published Philox4x32-10 answers.
#include "core/engine/generate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <set>

#include "core/engine/model_bundle.h"
#include "core/engine/sampling.h"
#include "core/error.h"
#include "tests/core/real_model.h"

namespace lockstep {
namespace {

// Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds).
TEST(Philox, KnownAnswers) {
  using A4 = std::array<uint32_t, 4>;
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}), (A4{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (A4{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (A4{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, UniformIsInUnitIntervalAndKeyed) {
  std::set<double> seen;
  for (uint64_t step = 0; step < 1000; ++step) {
    const double u = philox_uniform(42, 0, step);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_NE(philox_uniform(42, 0, 5), philox_uniform(43, 0, 5));
  EXPECT_EQ(philox_uniform(42, 0, 5), philox_uniform(42, 0, 5));
}

TEST(Validate, SamplingWithoutSeedIsAnError) {
  GenerateOptions o;
  o.sampling.temperature = 0.7;
  try {
    validate(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input);
    EXPECT_NE(std::string(e.what()).find("seed"), std::string::npos);
  }
  o.sampling.seed = 1;
  EXPECT_NO_THROW(validate(o));
}

TEST(Validate, RejectsNonsense) {
  auto rejects = [](auto mutate) {
    GenerateOptions o;
    o.sampling.seed = 1;
    mutate(o);
    EXPECT_THROW(validate(o), Error);
  };
  rejects([](GenerateOptions& o) { o.max_new_tokens = 0; });
  rejects([](GenerateOptions& o) { o.sampling.temperature = -1; });
  rejects([](GenerateOptions& o) { o.sampling.temperature = std::nan(""); });
  rejects([](GenerateOptions& o) { o.sampling.temperature = 1; o.sampling.top_p = 0; });
  rejects([](GenerateOptions& o) { o.sampling.temperature = 1; o.sampling.top_k = -3; });
  rejects([](GenerateOptions& o) { o.sampling.top_k = 5; });   // top_k while greedy
}

TEST(ChooseToken, GreedyTakesSmallestIdOnTie) {
  SamplingOptions greedy;
  EXPECT_EQ(choose_token(at::tensor({0.f, 5.f, 1.f, 5.f}), greedy, 0), 1);
}

TEST(ChooseToken, TopKOneIsGreedyWhateverTheDraw) {
  SamplingOptions s;
  s.temperature = 1.5;
  s.top_k = 1;
  s.seed = 9;
  for (uint64_t step = 0; step < 50; ++step) {
    EXPECT_EQ(choose_token(at::tensor({0.f, 5.f, 1.f, 5.f}), s, step), 1);
  }
}

// The radix order is std::stable_sort's with `a > b`, on rows full of ties,
// signed zeros, infinities and denormals, at sizes around the radix digits.
TEST(ChooseToken, CandidateOrderIsTheStableSortOrder) {
  std::mt19937 rng(5);
  for (int64_t n : {1, 2, 3, 17, 2047, 2049, 49152}) {
    for (int trial = 0; trial < 4; ++trial) {
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) {
        const uint32_t r = rng() % 100;
        v = r < 10 ? 0.0f : r < 20 ? -0.0f : r < 22 ? INFINITY : r < 24 ? -INFINITY : r < 26 ? 1e-42f
            : r < 60 ? static_cast<float>(static_cast<int>(rng() % 7) - 3)   // many exact ties
                     : std::ldexp(static_cast<float>(rng() % 100000) - 50000.0f, static_cast<int>(rng() % 20) - 20);
      }
      std::vector<int32_t> want(static_cast<size_t>(n));
      std::iota(want.begin(), want.end(), 0);
      std::stable_sort(want.begin(), want.end(), [&](int32_t a, int32_t b) { return x[a] > x[b]; });
      ASSERT_EQ(kernels::candidate_order(x.data(), n), want) << "n " << n << " trial " << trial;
    }
  }
}

TEST(ChooseToken, SamplingFollowsTheDistribution) {
  // Two tokens with probabilities 0.8 / 0.2: the empirical frequency over
  // 4000 seeded steps must be near 0.8 (binomial sd ~ 0.0063).
  SamplingOptions s;
  s.temperature = 1.0;
  s.seed = 123;
  at::Tensor logits = at::tensor({std::log(0.8f), std::log(0.2f)});
  int zeros = 0;
  for (uint64_t step = 0; step < 4000; ++step) zeros += choose_token(logits, s, step) == 0;
  EXPECT_NEAR(zeros / 4000.0, 0.8, 0.03);
}

using RealModel = testing_support::RealModelTest;

TEST_F(RealModel, GreedyIsBitwiseReproducible) {
  GenerateOptions o;
  o.max_new_tokens = 8;
  const auto ids = bundle_->prompt_ids("Name a planet.");
  const Generation a = generate(bundle_->model, ids, bundle_->tokenizer.eos_id(), o);
  const Generation b = generate(bundle_->model, ids, bundle_->tokenizer.eos_id(), o);
  EXPECT_EQ(a.output_ids, b.output_ids);
  EXPECT_EQ(a.step_logits_sha256, b.step_logits_sha256);
  EXPECT_EQ(a.step_logits_sha256.size(), a.output_ids.size());
}

TEST_F(RealModel, SeededSamplingIsReproducibleAndSeedMatters) {
  GenerateOptions o;
  o.max_new_tokens = 12;
  o.stop_at_eos = false;
  o.sampling.temperature = 1.3;
  o.sampling.seed = 7;
  const auto ids = bundle_->prompt_ids("Tell me a story.");
  const Generation a = generate(bundle_->model, ids, bundle_->tokenizer.eos_id(), o);
  const Generation b = generate(bundle_->model, ids, bundle_->tokenizer.eos_id(), o);
  EXPECT_EQ(a.output_ids, b.output_ids);
  std::set<std::vector<int32_t>> distinct{a.output_ids};
  for (uint64_t seed = 8; seed < 12; ++seed) {
    o.sampling.seed = seed;
    distinct.insert(generate(bundle_->model, ids, bundle_->tokenizer.eos_id(), o).output_ids);
  }
  EXPECT_GT(distinct.size(), 1u);
}

TEST_F(RealModel, StopsAtEosAndAtMaxTokens) {
  GenerateOptions o;
  o.max_new_tokens = 40;
  const Generation g = generate(bundle_->model, bundle_->prompt_ids("Say just: yes"),
                                bundle_->tokenizer.eos_id(), o);
  ASSERT_EQ(g.stop_reason, "eos");
  EXPECT_EQ(g.output_ids.back(), bundle_->tokenizer.eos_id());
  o.max_new_tokens = 3;
  o.stop_at_eos = false;
  const Generation h = generate(bundle_->model, bundle_->prompt_ids("Count to ten."),
                                bundle_->tokenizer.eos_id(), o);
  EXPECT_EQ(h.stop_reason, "max_tokens");
  EXPECT_EQ(h.output_ids.size(), 3u);
}

TEST_F(RealModel, StopsAtAStopStringKeepingTheTokenThatCompletesIt) {
  GenerateOptions o;
  o.max_new_tokens = 40;
  o.detokenize = [&](const std::vector<int32_t>& ids) { return bundle_->tokenizer.decode(ids); };
  const std::vector<int32_t> prompt = bundle_->prompt_ids("What is the capital of France?");
  const Generation full = generate(bundle_->model, prompt, bundle_->tokenizer.eos_id(), o);
  const std::string text = bundle_->tokenizer.decode(full.output_ids);
  ASSERT_NE(text.find("France is"), std::string::npos) << text;
  o.stop_strings = {"France is"};
  const Generation g = generate(bundle_->model, prompt, bundle_->tokenizer.eos_id(), o);
  EXPECT_EQ(g.stop_reason, "stop_string");
  const std::string stopped = bundle_->tokenizer.decode(g.output_ids);
  EXPECT_EQ(stopped.size() - stopped.find("France is"), std::string("France is").size()) << stopped;
  // The same tokens as the full run up to there: stopping changes nothing before it.
  EXPECT_TRUE(std::equal(g.output_ids.begin(), g.output_ids.end(), full.output_ids.begin()));
  o.stop_strings = {""};
  EXPECT_THROW(validate(o), Error);
  o.stop_strings = {"x"};
  o.detokenize = nullptr;
  EXPECT_THROW(validate(o), Error);
}

TEST_F(RealModel, ObserverChangesTheDigest) {
  GenerateOptions o;
  o.max_new_tokens = 2;
  const auto ids = bundle_->prompt_ids("Hi");
  const Generation clean = generate(bundle_->model, ids, bundle_->tokenizer.eos_id(), o);
  const Generation nudged = generate(bundle_->model, ids, bundle_->tokenizer.eos_id(), o,
                                     [](int64_t step, at::Tensor& logits) {
                                       if (step == 1) {
                                         float* p = logits.data_ptr<float>();
                                         p[0] = std::nextafter(p[0], INFINITY);
                                       }
                                     });
  ASSERT_EQ(clean.step_logits_sha256.size(), 2u);
  EXPECT_EQ(clean.step_logits_sha256[0], nudged.step_logits_sha256[0]);
  EXPECT_NE(clean.step_logits_sha256[1], nudged.step_logits_sha256[1]);
}

}  // namespace
}  // namespace lockstep

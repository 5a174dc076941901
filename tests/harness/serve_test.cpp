// The API request parser (what every field may hold, and the clear 400 for
// anything else), the fixed-order logprobs, and the streamed text.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/engine/logprobs.h"
#include "harness/serve/api_request.h"
#include "harness/sessions/text_stream.h"

namespace lockstep::serve {
namespace {

TEST(ApiRequest, CompletionDefaultsAreGreedyAndSixteenTokensLater) {
  const ApiRequest r = parse_completion_request(R"({"model": "m", "prompt": "hi"})");
  EXPECT_EQ(r.kind, ApiRequest::Kind::completion);
  EXPECT_EQ(r.model, "m");
  ASSERT_TRUE(r.prompt_text.has_value());
  EXPECT_EQ(*r.prompt_text, "hi");
  EXPECT_EQ(r.temperature, 0.0);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.logprobs, -1);
  EXPECT_EQ(r.n, 1);
  EXPECT_FALSE(r.stream);
}

TEST(ApiRequest, CompletionFieldsAreRead) {
  const ApiRequest r = parse_completion_request(
      R"({"prompt": [1, 2, 3], "max_tokens": 7, "temperature": 0.5, "seed": 9, "top_k": -1, "top_p": 0.9,
          "stop": ["a", "bc"], "n": 2, "stream": true, "stream_options": {"include_usage": true}, "logprobs": 3,
          "presence_penalty": 0, "user": "u", "suffix": null, "echo": false, "best_of": 1})");
  EXPECT_EQ(r.prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(*r.max_tokens, 7);
  EXPECT_EQ(*r.seed, 9u);
  EXPECT_EQ(r.top_k, 0);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(r.n, 2);
  EXPECT_TRUE(r.stream && r.include_usage);
  EXPECT_EQ(r.logprobs, 3);
}

TEST(ApiRequest, ChatReadsMessagesAndLogprobs) {
  const ApiRequest r = parse_chat_request(
      R"({"messages": [{"role": "system", "content": "be brief"},
                       {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
          "logprobs": true, "top_logprobs": 4, "max_completion_tokens": 5})");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_EQ(r.logprobs, 4);
  EXPECT_EQ(*r.max_tokens, 5);
  EXPECT_EQ(parse_chat_request(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})").logprobs, 0);
}

// Each bad request names the field at fault.
TEST(ApiRequest, BadRequestsAreRefusedWithTheirField) {
  const std::vector<std::pair<std::string, std::string>> completion = {
      {"", "not json"},
      {"", "[1, 2]"},
      {"prompt", R"({"max_tokens": 3})"},
      {"prompt", R"({"prompt": ""})"},
      {"prompt", R"({"prompt": [["a"]]})"},
      {"prompt", R"({"prompt": [-1]})"},
      {"prompt", R"({"prompt": 5})"},
      {"frobnicate", R"({"prompt": "x", "frobnicate": 1})"},
      {"max_tokens", R"({"prompt": "x", "max_tokens": 0})"},
      {"max_tokens", R"({"prompt": "x", "max_tokens": 99999999})"},
      {"max_tokens", R"({"prompt": "x", "max_tokens": "5"})"},
      {"temperature", R"({"prompt": "x", "temperature": 3})"},
      {"seed", R"({"prompt": "x", "temperature": 0.7})"},
      {"seed", R"({"prompt": "x", "seed": -1})"},
      {"top_p", R"({"prompt": "x", "top_p": 0.5})"},
      {"stop", R"({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]})"},
      {"stop", R"({"prompt": "x", "stop": [""]})"},
      {"stop", R"({"prompt": "x", "stop": 3})"},
      {"n", R"({"prompt": "x", "n": 2})"},
      {"logprobs", R"({"prompt": "x", "logprobs": 21})"},
      {"stream", R"({"prompt": "x", "stream": "yes"})"},
      {"stream_options", R"({"prompt": "x", "stream_options": {"include_usage": true}})"},
      {"presence_penalty", R"({"prompt": "x", "presence_penalty": 0.5})"},
      {"logit_bias", R"({"prompt": "x", "logit_bias": {"1": 5}})"},
      {"echo", R"({"prompt": "x", "echo": true})"},
  };
  for (const auto& [param, body] : completion) {
    try {
      parse_completion_request(body);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400) << body;
      EXPECT_EQ(e.param, param) << body << ": " << e.what();
      EXPECT_GT(std::string(e.what()).size(), 10u);
    }
  }
  for (const std::string body : {R"({"messages": []})", R"({"messages": [{"content": "x"}]})",
                                  R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
                                  R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})",
                                  R"({"messages": [{"role": "user", "content": "x", "tool_calls": []}]})",
                                  R"({"messages": [{"role": "user", "content": "x"}], "tools": []})"}) {
    EXPECT_THROW(parse_chat_request(body), ApiError) << body;
  }
}

TEST(ApiRequest, LimitsApply) {
  ApiLimits limits;
  limits.max_tokens = 10;
  limits.max_n = 2;
  limits.max_prompt_bytes = 4;
  EXPECT_THROW(parse_completion_request(R"({"prompt": "x", "max_tokens": 11})", limits), ApiError);
  EXPECT_THROW(parse_completion_request(R"({"prompt": "x", "n": 3, "temperature": 1, "seed": 1})", limits), ApiError);
  EXPECT_THROW(parse_completion_request(R"({"prompt": "hello"})", limits), ApiError);
  EXPECT_NO_THROW(parse_completion_request(R"({"prompt": "x", "max_tokens": 10})", limits));
}

// The logprobs against a float64 log-softmax computed here by hand, within
// one fp32 rounding; the top list ordered by logit, ties by smaller id.
TEST(Logprobs, MatchAFloat64LogSoftmaxAndOrderTheTopCandidates) {
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::sin(0.37 * i) * 9.0);
  logits[17] = logits[400] = 12.5f;   // a tie at the top
  double max = -1e300, sum = 0;
  for (float x : logits) max = std::max(max, static_cast<double>(x));
  for (float x : logits) sum += std::exp(x - max);
  const StepLogprobs lp = step_logprobs(logits.data(), static_cast<int64_t>(logits.size()), 3, 5);
  EXPECT_EQ(lp.chosen.id, 3);
  EXPECT_NEAR(lp.chosen.logprob, logits[3] - max - std::log(sum), 1e-6);
  ASSERT_EQ(lp.top.size(), 5u);
  EXPECT_EQ(lp.top[0].id, 17);
  EXPECT_EQ(lp.top[1].id, 400);
  EXPECT_EQ(lp.top[0].logprob, lp.top[1].logprob);
  for (size_t i = 1; i < lp.top.size(); ++i) EXPECT_LE(lp.top[i].logprob, lp.top[i - 1].logprob);
  EXPECT_TRUE(step_logprobs(logits.data(), 1000, 3, 0).top.empty());
  EXPECT_THROW(step_logprobs(logits.data(), 1000, 3, 21), std::invalid_argument);
  logits[5] = NAN;
  EXPECT_TRUE(std::isnan(step_logprobs(logits.data(), 1000, 3, 2).chosen.logprob));
}

}  // namespace
}  // namespace lockstep::serve

// Log-probabilities of a step's tokens, as OpenAI-style APIs report them:
// the log-softmax of the raw fp32 logits (before temperature, top-k or
// top-p), for the chosen token and the most likely candidates.
//
// Deterministic like the tokens: the row's maximum, then the sum of
// exp(logit - max) in double precision in index order (one fixed order,
// whatever the batch, the threads or the device the logits came from), then
// logprob = logit - max - log(sum) in double, rounded once to fp32. A row
// holding NaN gives NaN logprobs; -inf logits give -inf.
#pragma once

#include <cstdint>
#include <vector>

namespace lockstep {

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0.0f;
};

struct StepLogprobs {
  TokenLogprob chosen;
  // The `top` most likely tokens, most likely first (ties: smaller id first).
  std::vector<TokenLogprob> top;
};

inline constexpr int64_t kMaxTopLogprobs = 20;

// `logits`: n fp32 values; `top` from 0 to kMaxTopLogprobs (std::invalid_argument otherwise).
StepLogprobs step_logprobs(const float* logits, int64_t n, int32_t chosen, int64_t top);

}  // namespace lockstep

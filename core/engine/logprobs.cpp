#include "core/engine/logprobs.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/engine/sampling.h"

namespace lockstep {

StepLogprobs step_logprobs(const float* logits, int64_t n, int32_t chosen, int64_t top) {
  if (top < 0 || top > kMaxTopLogprobs) throw std::invalid_argument("top logprobs must be from 0 to 20");
  if (n < 1 || chosen < 0 || chosen >= n) throw std::invalid_argument("chosen token outside the logits");
  bool nan = false;
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    nan |= std::isnan(logits[i]);
    max = std::max(max, logits[i]);
  }
  double sum = 0.0;
  if (!nan && std::isfinite(max)) {
    for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  }
  const double log_sum = std::log(sum);
  auto logprob = [&](int32_t id) -> float {
    if (nan || !std::isfinite(max)) return std::numeric_limits<float>::quiet_NaN();
    return static_cast<float>(static_cast<double>(logits[id]) - max - log_sum);
  };

  StepLogprobs out;
  out.chosen = {chosen, logprob(chosen)};
  for (int32_t id : top_ids(logits, n, top)) out.top.push_back({id, logprob(id)});
  return out;
}

}  // namespace lockstep

#include "core/engine/generate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/engine/sampling.h"
#include "core/error.h"
#include "core/util/sha256.h"

namespace lockstep {

static_assert(sizeof(float) == 4, "logits digests hash IEEE-754 binary32");

void validate(const GenerateOptions& options) {
  const SamplingOptions& s = options.sampling;
  if (options.max_new_tokens < 1) throw bad_input("max_new_tokens must be at least 1");
  if (!std::isfinite(s.temperature) || s.temperature < 0) {
    throw bad_input("temperature must be a finite number >= 0 (0 means greedy)");
  }
  if (s.top_k < 0) throw bad_input("top_k must be >= 0 (0 disables it)");
  if (!(s.top_p > 0 && s.top_p <= 1)) throw bad_input("top_p must be in (0, 1]");
  if (s.temperature > 0 && !s.seed) {
    throw bad_input(
        "sampling (temperature > 0) needs an explicit seed: lockstep never draws unseeded random "
        "numbers, since the output could not be reproduced. Pass --seed N, or use temperature 0 for "
        "greedy decoding.");
  }
  if (s.temperature == 0 && (s.top_k > 0 || s.top_p < 1)) {
    throw bad_input("top_k / top_p only apply when sampling: set a temperature > 0 and a seed");
  }
}

Generation generate(const LlamaModel& model, const std::vector<int32_t>& prompt_ids, int32_t eos_id,
                    const GenerateOptions& options, const StepObserver& observer) {
  validate(options);
  if (prompt_ids.empty()) throw bad_input("the prompt has no tokens");
  Generation g;
  g.prompt_ids = prompt_ids;
  KvCache cache = model.new_cache(static_cast<int64_t>(prompt_ids.size()) + options.max_new_tokens);
  at::Tensor logits = model.forward(prompt_ids, cache);
  at::Tensor last = logits[logits.size(0) - 1];
  g.stop_reason = "max_tokens";
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    at::Tensor row = last.contiguous().clone();
    if (observer) observer(step, row);
    g.step_logits_sha256.push_back(sha256_hex(row.data_ptr<float>(), row.numel() * sizeof(float)));
    const int32_t token = choose_token(row, options.sampling, static_cast<uint64_t>(step));
    g.output_ids.push_back(token);
    if (options.stop_at_eos && token == eos_id) {
      g.stop_reason = "eos";
      break;
    }
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), token) != options.stop_ids.end()) {
      g.stop_reason = "stop_id";
      break;
    }
    if (step + 1 == options.max_new_tokens) break;
    last = model.forward({token}, cache)[0];
  }
  return g;
}

}  // namespace lockstep

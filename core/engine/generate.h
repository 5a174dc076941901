// Decoding loop: prefill the prompt, then one token at a time. Greedy by
// default (argmax, the smallest token id wins a tie); sampling only with an
// explicit seed, from a counter-based RNG keyed by (seed, step), so a sampled
// run is reproducible. Every step's raw fp32 logits are hashed (SHA-256 of the
// little-endian bytes) so callers can compare runs bit for bit.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/models/llama.h"

namespace lockstep {

struct SamplingOptions {
  double temperature = 0.0;   // 0: greedy
  int64_t top_k = 0;          // 0: off
  double top_p = 1.0;         // 1: off
  std::optional<uint64_t> seed;
};

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  bool stop_at_eos = true;
  std::vector<int32_t> stop_ids;   // besides EOS
  SamplingOptions sampling;
};

// bad_input for sampling without a seed, negative or non-finite temperature,
// top_p outside (0, 1], negative top_k or max_new_tokens < 1.
void validate(const GenerateOptions& options);

struct Generation {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> output_ids;
  std::vector<std::string> step_logits_sha256;   // one per generated token
  std::string stop_reason;                       // "eos", "stop_id", "max_tokens"
};

// Called with each step's logits [vocab] (fp32, contiguous, CPU) before they
// are hashed and a token is chosen. It may modify them: the harness's
// test-only fault hook and the logits dump use this.
using StepObserver = std::function<void(int64_t step, at::Tensor& logits)>;

Generation generate(const LlamaModel& model, const std::vector<int32_t>& prompt_ids,
                    int32_t eos_id, const GenerateOptions& options,
                    const StepObserver& observer = {});

}  // namespace lockstep

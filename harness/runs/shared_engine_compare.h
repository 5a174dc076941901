// The experiment users know from "Defeating Nondeterminism in LLM Inference":
// many copies of one request submitted concurrently to ONE engine together
// with random other requests, so that every copy is batched with different
// neighbours at every step; how many different outputs do the copies get?
// Counted at the token level (the generated ids) and at the bits level (the
// ids and every step's logits digest).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "kernels/mode.h"

namespace lockstep::harness {

struct SharedEngineSettings {
  int64_t copies = 1000;            // of the target, greedy, decode_tokens new tokens each
  int64_t fillers = 1000;           // random requests
  int64_t decode_tokens = 100;
  int64_t filler_max_prompt = 1000;  // filler prompts: 1 .. this many random ids
  int64_t filler_max_new = 100;      // filler outputs: 1 .. this many tokens
  int64_t max_batch = 64;
  int64_t threads = 8;               // submitting threads
  uint64_t seed = 1;
};

struct SharedEngineResult {
  int64_t unique_tokens = 0;
  int64_t unique_bits = 0;
  std::map<std::string, int64_t> histogram;   // bits-level digest -> copies
  double seconds = 0;
  EngineStats stats;
};

// The same requests, in the same order, for every mode (fillers are drawn from `settings.seed`).
SharedEngineResult run_shared_engine(const std::shared_ptr<const DecoderModel>& model,
                                     const std::vector<int32_t>& target, kernels::Mode mode,
                                     const SharedEngineSettings& settings);

}  // namespace lockstep::harness

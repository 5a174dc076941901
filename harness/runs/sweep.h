// `lockstep sweep`: one target request computed alone and inside batches of
// B requests (random co-batched fillers, the target at a random slot), for
// every prompt length L of the grid. Its logits at every prompt position
// (the prefill) must have the same SHA-256 in every batch as alone.
//
// Each length is a case ("len-L") whose reference is the solo run; each batch
// size is a run ("batch-B", kind "batch") compared with it, so results.json,
// JUnit and the report's batch x length heatmap come from the usual
// VerifyResults.
//
// With decode_tokens > 0 each length also gets a case "decode-len-L": the
// target generates that many tokens (greedy, EOS ignored) through the
// batching Engine, alone (the reference) and submitted with B-1 random
// requests of random lengths and token budgets, so that the batch it decodes
// in shrinks step by step; its tokens and every step's logits digest must be
// those of the solo run.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/models/decoder.h"
#include "harness/results/results.h"
#include "harness/runs/verifier.h"

namespace lockstep { class DecoderModel; }

namespace lockstep::harness {

// Pieces `sweep` and `compare` share.
// `n` token ids drawn uniformly from [0, vocab).
std::vector<int32_t> random_token_ids(std::mt19937_64& rng, size_t n, int64_t vocab);
// The target's logits [T, vocab] from a batch of `batch` requests with the
// target at `slot` and random ids of the same length elsewhere (drawn from
// `rng` in slot order).
at::Tensor logits_in_batch(const DecoderModel& model, const std::vector<int32_t>& target, int64_t batch, int64_t slot,
                           std::mt19937_64& rng);
// The target's tokens and step digests generated (greedy, EOS ignored, `tokens` of them) by one
// Engine, alone (batch 1) or submitted at once with batch-1 random requests (random prompt lengths
// 1..2L, random budgets 1..2N, drawn from `rng`), so the batch it decodes in shrinks as they end.
RunRecord decode_in_engine(const std::shared_ptr<const DecoderModel>& model, const std::vector<int32_t>& target,
                           int64_t tokens, int64_t batch, int64_t slot, std::mt19937_64& rng);
// SHA-256 of fp32 logits' bytes (made contiguous first).
std::string logits_sha256(const at::Tensor& logits);

struct SweepPlan {
  std::string model_path;
  std::vector<int64_t> lengths = {1, 7, 32, 96};
  std::vector<int64_t> batches = {1, 2, 3, 4, 8, 16};
  uint64_t seed = 1;
  int64_t decode_tokens = 8;   // 0: prefill only
  LoadOptions load;
  // Refuse grids whose largest batch's logits would exceed this.
  int64_t max_logits_bytes = int64_t{3} << 30;
};

// bad_input for an empty, non-positive or too large grid (before loading).
void validate(const SweepPlan& plan, int64_t vocab_hint = 49152);

VerifyResults run_sweep(const SweepPlan& plan, const Progress& progress);

}  // namespace lockstep::harness

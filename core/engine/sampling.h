// Token choice from one step's logits. Greedy is the argmax kernel (smallest
// id wins a tie). Seeded sampling draws its uniform number from Philox4x32-10
// keyed by the seed with the step as counter: the draw for step s depends on
// nothing but (seed, s), so a sampled run is reproducible; the arithmetic
// after the logits is kernels/token_choice.h's, the same bits on the host and
// on the device.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <vector>

#include "core/engine/generate.h"
#include "kernels/token_choice.h"

namespace lockstep {

// Philox4x32 with 10 rounds (Salmon et al., SC'11).
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// Uniform double in [0, 1) with 53 random bits, for (seed, stream, step).
double philox_uniform(uint64_t seed, uint64_t stream, uint64_t step);

// The k largest of n logits in one pass, largest first: ties go to the
// smaller id and NaN ranks last (a total order, so the list is deterministic).
std::vector<int32_t> top_ids(const float* logits, int64_t n, int64_t k);

// The row parameters of kernels/token_choice.h for the request's `step`-th
// token: the uniform is philox_uniform(seed, stream, step); zeros for greedy.
kernels::ChoiceParams choice_params(const SamplingOptions& options, uint64_t step);

// `logits`: fp32 [vocab] on the CPU. kernels::choose_tokens_cpu for one row;
// a row it cannot sample (NaN, infinite maximum) raises throw_unsampleable.
int32_t choose_token(const at::Tensor& logits, const SamplingOptions& options, uint64_t step);

[[noreturn]] void throw_unsampleable(uint64_t step);

}  // namespace lockstep

// Token choice from one step's logits. Greedy is the argmax kernel (smallest
// id wins a tie). Seeded sampling draws its uniform number from Philox4x32-10
// keyed by the seed with the step as counter: the draw for step s depends on
// nothing but (seed, s), so a sampled run is reproducible, and all the
// arithmetic after the logits is sequential double precision on the host.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <vector>

#include "core/engine/generate.h"

namespace lockstep {

// Philox4x32 with 10 rounds (Salmon et al., SC'11).
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// Uniform double in [0, 1) with 53 random bits, for (seed, stream, step).
double philox_uniform(uint64_t seed, uint64_t stream, uint64_t step);

// Token ids ordered by logit, descending, ties by smaller id (+0 and -0
// tie): the candidates' order of choose_token. An LSD radix sort over the
// float bits, exactly std::stable_sort's order with `a > b` (tested), in a
// tenth of its time at a 49k vocabulary; rows holding NaN take stable_sort.
std::vector<int32_t> candidate_order(const float* logits, int64_t n);

// The k largest of n logits in one pass, largest first: ties go to the
// smaller id and NaN ranks last (a total order, so the list is deterministic).
std::vector<int32_t> top_ids(const float* logits, int64_t n, int64_t k);

// `logits`: fp32 [vocab] on the CPU.
int32_t choose_token(const at::Tensor& logits, const SamplingOptions& options, uint64_t step);

}  // namespace lockstep

// The `canonical` proof level: a tolerant comparison for runs whose bits may
// legitimately differ (another GPU type, another BLAS) but whose outputs must
// not. Every step's top candidates are kept with their logits rounded to a
// fixed-point grid (integers in units of 2^-kCanonicalFractionBits, round
// half to even), so proof files hold only integers and the canonical-JSON
// digest stays language-independent. Two runs agree at this level when their
// prompt and output ids are equal and, at every step, every candidate in
// both top lists has logits within the tolerance (a candidate in only one
// list must be within the tolerance of the other list's last one: a near-tie
// at the list's edge, not a moved logit).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "harness/runs/run_record.h"

namespace lockstep::harness {

inline constexpr int kCanonicalFractionBits = 10;          // grid 1/1024
inline constexpr double kDefaultCanonicalTolerance = 1.0 / 256.0;

// Per step: (token id, logit in units of 2^-10; nullopt for inf/nan).
using CanonicalTop = std::vector<std::vector<std::pair<int32_t, std::optional<int64_t>>>>;

std::optional<int64_t> canonical_logit(float logit);
CanonicalTop canonical_top(const std::vector<std::vector<std::pair<int32_t, float>>>& step_top);
// The grid value back as a logit (exact for |logit| < 2^13).
double from_canonical(int64_t units);

// nullopt when the runs agree at the canonical level (see above); otherwise
// the first step where they do not, reason "prompt", "length", "token" or
// "canonical" (a shared candidate's logits more than `tolerance` apart), with
// both sides' rounded candidates.
std::optional<Divergence> canonical_divergence(const RunRecord& expected, const CanonicalTop& expected_top,
                                               const RunRecord& actual, const CanonicalTop& actual_top,
                                               double tolerance = kDefaultCanonicalTolerance);

}  // namespace lockstep::harness

#include "harness/proofs/canonical.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace lockstep::harness {

std::optional<int64_t> canonical_logit(float logit) {
  if (!std::isfinite(logit)) return std::nullopt;
  // The product is exact in double; nearbyint rounds half to even (the default rounding mode).
  return static_cast<int64_t>(std::nearbyint(static_cast<double>(logit) * (1 << kCanonicalFractionBits)));
}

double from_canonical(int64_t units) { return static_cast<double>(units) / (1 << kCanonicalFractionBits); }

CanonicalTop canonical_top(const std::vector<std::vector<std::pair<int32_t, float>>>& step_top) {
  CanonicalTop out;
  out.reserve(step_top.size());
  for (const auto& step : step_top) {
    auto& row = out.emplace_back();
    for (const auto& [id, logit] : step) row.emplace_back(id, canonical_logit(logit));
  }
  return out;
}

namespace {

std::vector<std::pair<int32_t, float>> as_floats(const CanonicalTop& top, size_t step) {
  std::vector<std::pair<int32_t, float>> out;
  if (step >= top.size()) return out;
  for (const auto& [id, units] : top[step]) {
    out.emplace_back(id, units ? static_cast<float>(from_canonical(*units)) : NAN);
  }
  return out;
}

// Units apart, or nullopt when either side is not finite (then they must be equal as nullopt).
bool within(const std::optional<int64_t>& a, const std::optional<int64_t>& b, double tolerance) {
  if (!a || !b) return !a && !b;
  return from_canonical(std::llabs(*a - *b)) <= tolerance;
}

// The step's lists agree: shared ids within the tolerance; an id in one list only is within the
// tolerance of the other list's last (smallest) candidate.
bool step_agrees(const std::vector<std::pair<int32_t, std::optional<int64_t>>>& e,
                 const std::vector<std::pair<int32_t, std::optional<int64_t>>>& a, double tolerance) {
  auto one_way = [tolerance](const auto& mine, const auto& theirs) {
    for (const auto& [id, units] : mine) {
      bool found = false;
      for (const auto& [other_id, other_units] : theirs) {
        if (other_id != id) continue;
        found = true;
        if (!within(units, other_units, tolerance)) return false;
      }
      if (!found && (theirs.empty() || !within(units, theirs.back().second, tolerance))) return false;
    }
    return true;
  };
  return one_way(e, a) && one_way(a, e);
}

}  // namespace

std::optional<Divergence> canonical_divergence(const RunRecord& expected, const CanonicalTop& expected_top,
                                               const RunRecord& actual, const CanonicalTop& actual_top,
                                               double tolerance) {
  auto make = [&](size_t step, const char* reason) {
    Divergence d;
    d.step = static_cast<int64_t>(step);
    d.reason = reason;
    if (step < expected.output_ids.size()) d.expected_token = expected.output_ids[step];
    if (step < actual.output_ids.size()) d.actual_token = actual.output_ids[step];
    d.expected_top = as_floats(expected_top, step);
    d.actual_top = as_floats(actual_top, step);
    return d;
  };
  if (expected.prompt_ids != actual.prompt_ids) return make(0, "prompt");
  const size_t steps = std::max(expected.output_ids.size(), actual.output_ids.size());
  for (size_t step = 0; step < steps; ++step) {
    if (step >= expected.output_ids.size() || step >= actual.output_ids.size()) return make(step, "length");
    if (expected.output_ids[step] != actual.output_ids[step]) return make(step, "token");
    if (step >= expected_top.size() || step >= actual_top.size()) return make(step, "length");
    if (!step_agrees(expected_top[step], actual_top[step], tolerance)) return make(step, "canonical");
  }
  return std::nullopt;
}

}  // namespace lockstep::harness

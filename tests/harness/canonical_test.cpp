// The canonical proof level: fixed-point rounding of candidates' logits and
// the tolerant step-by-step comparison.
#include "harness/proofs/canonical.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace lockstep::harness {
namespace {

constexpr float kUnit = 1.0f / 1024.0f;

TEST(CanonicalLogit, RoundsToTheGridHalfToEven) {
  EXPECT_EQ(canonical_logit(0.0f), 0);
  EXPECT_EQ(canonical_logit(1.0f), 1024);
  EXPECT_EQ(canonical_logit(-2.5f), -2560);
  EXPECT_EQ(canonical_logit(0.5f * kUnit), 0);    // a tie goes to the even neighbour
  EXPECT_EQ(canonical_logit(1.5f * kUnit), 2);
  EXPECT_EQ(canonical_logit(2.5f * kUnit), 2);
  EXPECT_EQ(canonical_logit(-1.5f * kUnit), -2);
  EXPECT_EQ(canonical_logit(32.355682373046875f), 33132);   // 33132.218...
  EXPECT_FALSE(canonical_logit(std::numeric_limits<float>::infinity()));
  EXPECT_FALSE(canonical_logit(std::nanf("")));
  EXPECT_DOUBLE_EQ(from_canonical(33132), 33132.0 / 1024.0);
}

RunRecord record(std::vector<int32_t> out) {
  RunRecord r;
  r.prompt_ids = {1, 2, 3};
  r.output_ids = std::move(out);
  return r;
}

CanonicalTop top(std::vector<std::vector<std::pair<int32_t, float>>> steps) { return canonical_top(steps); }

TEST(CanonicalDivergence, AgreesWithinTheToleranceAndNamesTheStepBeyondIt) {
  const RunRecord e = record({7, 8});
  const CanonicalTop et = top({{{7, 10.0f}, {9, 9.0f}}, {{8, 5.0f}, {2, 4.0f}}});
  // Step 1's runner-up moved by 2/1024 < 1/256.
  const CanonicalTop near = top({{{7, 10.0f}, {9, 9.0f}}, {{8, 5.0f}, {2, 4.0f + 2 * kUnit}}});
  EXPECT_FALSE(canonical_divergence(e, et, e, near));
  // ... which a tolerance of 1/1024 does not accept.
  const auto strict = canonical_divergence(e, et, e, near, 1.0 / 1024.0);
  ASSERT_TRUE(strict);
  EXPECT_EQ(strict->step, 1);
  EXPECT_EQ(strict->reason, "canonical");
  ASSERT_EQ(strict->actual_top.size(), 2u);
  EXPECT_FLOAT_EQ(strict->actual_top[1].second, 4.0f + 2 * kUnit);
  // A moved logit beyond the default tolerance.
  const CanonicalTop far = top({{{7, 10.1f}, {9, 9.0f}}, {{8, 5.0f}, {2, 4.0f}}});
  const auto moved = canonical_divergence(e, et, e, far);
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->step, 0);
}

TEST(CanonicalDivergence, TokensPromptsAndLengthsMustBeEqual) {
  const CanonicalTop t = top({{{7, 10.0f}}, {{8, 5.0f}}});
  const auto token = canonical_divergence(record({7, 8}), t, record({7, 9}), t);
  ASSERT_TRUE(token);
  EXPECT_EQ(token->reason, "token");
  EXPECT_EQ(token->step, 1);
  const auto length = canonical_divergence(record({7, 8}), t, record({7}), top({{{7, 10.0f}}}));
  ASSERT_TRUE(length);
  EXPECT_EQ(length->reason, "length");
  RunRecord other = record({7, 8});
  other.prompt_ids = {1, 2};
  EXPECT_EQ(canonical_divergence(record({7, 8}), t, other, t)->reason, "prompt");
}

TEST(CanonicalDivergence, ACandidateInOneListOnlyMustBeANearTieAtTheEdge) {
  const RunRecord r = record({7});
  const CanonicalTop e = top({{{7, 10.0f}, {3, 6.0f}, {4, 5.0f}}});
  // id 4 and id 5 swap places at the list's edge, both within the tolerance of each other.
  const CanonicalTop swapped = top({{{7, 10.0f}, {3, 6.0f}, {5, 5.0f + kUnit}}});
  EXPECT_FALSE(canonical_divergence(r, e, r, swapped));
  // A new candidate far above the edge is a real change.
  const CanonicalTop jumped = top({{{7, 10.0f}, {5, 8.0f}, {3, 6.0f}}});
  EXPECT_TRUE(canonical_divergence(r, e, r, jumped));
}

TEST(CanonicalDivergence, NonFiniteLogitsMatchOnlyEachOther) {
  const RunRecord r = record({7});
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(canonical_divergence(r, top({{{7, inf}}}), r, top({{{7, inf}}})));
  EXPECT_TRUE(canonical_divergence(r, top({{{7, inf}}}), r, top({{{7, 10.0f}}})));
}

}  // namespace
}  // namespace lockstep::harness

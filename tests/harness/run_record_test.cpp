#include "harness/runs/run_record.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/util/sha256.h"

namespace lockstep::harness {
namespace {

RunRecord synthetic(std::vector<int32_t> ids, std::vector<std::string> digests) {
  RunRecord r;
  r.prompt_ids = {1, 2, 3};
  r.output_ids = std::move(ids);
  r.ids_sha256 = ids_sha256(r.output_ids);
  r.step_logits_sha256 = std::move(digests);
  r.stop_reason = "max_tokens";
  return r;
}

TEST(IdsSha256, HashesInt32LittleEndianBytes) {
  const unsigned char bytes[] = {0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x00, 0x00};
  EXPECT_EQ(ids_sha256({1, -1, 256}), sha256_hex(bytes, sizeof bytes));
  EXPECT_EQ(ids_sha256({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(FirstDivergence, EqualRecordsMatch) {
  const RunRecord a = synthetic({5, 6, 7}, {"a", "b", "c"});
  EXPECT_FALSE(first_divergence(a, a).has_value());
}

// A divergence at `step` for `reason`, with both sides' digests and tokens.
void expect_divergence(const std::optional<Divergence>& d, int64_t step, const std::string& reason,
                       const std::string& expected_sha256, const std::string& actual_sha256,
                       std::optional<int32_t> expected_token, std::optional<int32_t> actual_token) {
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->step, step);
  EXPECT_EQ(d->reason, reason);
  EXPECT_EQ(d->expected_sha256, expected_sha256);
  EXPECT_EQ(d->actual_sha256, actual_sha256);
  EXPECT_EQ(d->expected_token, expected_token);
  EXPECT_EQ(d->actual_token, actual_token);
}

TEST(FirstDivergence, FindsTheFirstDifferentLogitsDigest) {
  const RunRecord a = synthetic({5, 6, 7, 8}, {"a", "b", "c", "d"});
  const RunRecord b = synthetic({5, 6, 9, 9}, {"a", "b", "x", "y"});
  expect_divergence(first_divergence(a, b), 2, "logits", "c", "x", 7, 9);
}

TEST(FirstDivergence, LogitsDifferButTokenSame) {
  // A one-ULP change usually keeps the argmax: still a divergence, at step 0.
  const auto d = first_divergence(synthetic({5, 6}, {"a", "b"}), synthetic({5, 6}, {"z", "b"}));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->step, 0);
  EXPECT_EQ(d->reason, "logits");
  EXPECT_EQ(d->expected_token, d->actual_token);
}

TEST(FirstDivergence, SameLogitsDifferentToken) {
  const auto d = first_divergence(synthetic({5, 6}, {"a", "b"}), synthetic({5, 4}, {"a", "b"}));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->step, 1);
  EXPECT_EQ(d->reason, "token");
}

TEST(FirstDivergence, ShorterRunDivergesWhereItStops) {
  expect_divergence(first_divergence(synthetic({5, 6, 7}, {"a", "b", "c"}), synthetic({5, 6}, {"a", "b"})), 2, "length",
                    "c", "", 7, std::nullopt);

  const auto longer = first_divergence(synthetic({5}, {"a"}), synthetic({5, 6}, {"a", "b"}));
  ASSERT_TRUE(longer.has_value());
  EXPECT_EQ(longer->step, 1);
  EXPECT_FALSE(longer->expected_token.has_value());
  EXPECT_EQ(longer->actual_token, 6);
}

TEST(FirstDivergence, DifferentPromptIdsDivergeAtStepZero) {
  RunRecord b = synthetic({5}, {"a"});
  b.prompt_ids = {1, 2, 4};
  const auto d = first_divergence(synthetic({5}, {"a"}), b);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->step, 0);
  EXPECT_EQ(d->reason, "prompt");
}

TEST(FirstDivergence, IdsDigestMismatchIsNeverAMatch) {
  RunRecord b = synthetic({5}, {"a"});
  b.ids_sha256 = "tampered";
  const auto d = first_divergence(synthetic({5}, {"a"}), b);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason, "ids_sha256");
  EXPECT_EQ(d->actual_sha256, "tampered");
}

TEST(FirstDivergence, DescribeNamesStepDigestsAndTokens) {
  auto d = first_divergence(synthetic({5}, {"0123456789abcdef0123"}), synthetic({6}, {"fedcba9876543210fedc"}));
  ASSERT_TRUE(d.has_value());
  d->expected_text = " Paris";
  d->actual_text = " Lyon";
  const std::string text = describe(*d);
  EXPECT_NE(text.find("step 0"), std::string::npos) << text;
  EXPECT_NE(text.find("0123456789abcdef"), std::string::npos) << text;
  EXPECT_NE(text.find("fedcba9876543210"), std::string::npos) << text;
  EXPECT_NE(text.find("5 \" Paris\""), std::string::npos) << text;
  EXPECT_NE(text.find("6 \" Lyon\""), std::string::npos) << text;
}

TEST(UlpDistance, CountsRepresentableFloatsBetween) {
  EXPECT_EQ(ulp_distance(1.0f, 1.0f), 0);
  EXPECT_EQ(ulp_distance(1.0f, std::nextafter(1.0f, 2.0f)), 1);
  EXPECT_EQ(ulp_distance(std::nextafter(1.0f, 2.0f), 1.0f), 1);
  EXPECT_EQ(ulp_distance(-0.0f, 0.0f), 0);
  const float tiny = std::numeric_limits<float>::denorm_min();
  EXPECT_EQ(ulp_distance(-tiny, tiny), 2);
  EXPECT_EQ(ulp_distance(1.0f, 2.0f), int64_t{1} << 23);
  EXPECT_FALSE(ulp_distance(1.0f, std::numeric_limits<float>::quiet_NaN()));
  EXPECT_FALSE(ulp_distance(std::numeric_limits<float>::infinity(), 1.0f));
}

TEST(FirstDivergence, ShowsBothSidesTopCandidatesAndTheirUlpDistance) {
  RunRecord e = synthetic({5, 6}, {"a", "b"}), a = synthetic({5, 7}, {"a", "c"});
  e.step_top = {{{5, 3.0f}, {9, 1.0f}}, {{6, 2.0f}, {7, 2.0f}}};
  a.step_top = {{{5, 3.0f}, {9, 1.0f}}, {{7, std::nextafter(2.0f, 3.0f)}, {6, 2.0f}, {4, 0.5f}}};
  const auto d = first_divergence(e, a);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->step, 1);
  EXPECT_EQ(d->expected_top, e.step_top[1]);
  EXPECT_EQ(d->actual_top, a.step_top[1]);
  EXPECT_EQ(d->max_ulp, 1);   // token 7 moved one ULP; 6 did not move; 4 is on one side only
  EXPECT_NE(describe(*d).find("max ULP distance 1"), std::string::npos) << describe(*d);
  nlohmann::ordered_json j = *d;
  Divergence back;
  from_json(j, back);
  EXPECT_EQ(back.expected_top, d->expected_top);
  EXPECT_EQ(back.actual_top, d->actual_top);   // floats survive JSON exactly
  EXPECT_EQ(back.max_ulp, 1);
  nlohmann::ordered_json r = a;
  RunRecord a2;
  from_json(r, a2);
  EXPECT_EQ(a2.step_top, a.step_top);
}

TEST(RunRecordJson, RoundTrips) {
  RunRecord a = synthetic({5, -1, 7}, {"a", "b", "c"});
  a.duration_s = 1.25;
  const nlohmann::ordered_json j = a;
  const RunRecord b = nlohmann::ordered_json::parse(j.dump()).get<RunRecord>();
  EXPECT_EQ(b.prompt_ids, a.prompt_ids);
  EXPECT_EQ(b.output_ids, a.output_ids);
  EXPECT_EQ(b.ids_sha256, a.ids_sha256);
  EXPECT_EQ(b.step_logits_sha256, a.step_logits_sha256);
  EXPECT_EQ(b.stop_reason, a.stop_reason);
  EXPECT_EQ(b.duration_s, a.duration_s);
  EXPECT_FALSE(first_divergence(a, b).has_value());
}

TEST(RunRecordJson, MissingFieldIsBadInput) {
  nlohmann::ordered_json j = synthetic({5}, {"a"});
  j.erase("output_ids");
  EXPECT_THROW(j.get<RunRecord>(), Error);
}

}  // namespace
}  // namespace lockstep::harness

#include "harness/suite.h"

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "tests/harness/expect_error.h"
#include "tests/harness/temp_dir.h"

namespace lockstep::harness {
namespace {

// The message of the bad_input error parse_suite throws for `text`.
std::string error_for(const std::string& text) {
  try {
    parse_suite(text, "t.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input);
    return e.what();
  }
  ADD_FAILURE() << "no error for: " << text;
  return "";
}

const char* kMinimal = R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a", "prompt": "p"}]})";

TEST(Suite, LoadsTheCiGate) {
  const Suite suite = load_suite(std::string(LOCKSTEP_SOURCE_DIR) + "/suites/ci-gate.json");
  EXPECT_EQ(suite.name, "ci-gate");
  ASSERT_EQ(suite.cases.size(), 8u);
  EXPECT_EQ(suite.cases[0].id, "capital");
  EXPECT_EQ(suite.cases[0].prompt, "What is the capital of France?");
  EXPECT_EQ(suite.cases[0].max_new_tokens, 24);
  EXPECT_TRUE(suite.cases[0].chat);
  EXPECT_EQ(suite.cases[7].prompt, "   Explain   what a   hash function is.   ");   // whitespace kept
}

TEST(Suite, TheCiGateHasABatchPlan) {
  const Suite suite = load_suite(std::string(LOCKSTEP_SOURCE_DIR) + "/suites/ci-gate.json");
  ASSERT_TRUE(suite.batch_plan.has_value());
  EXPECT_EQ(suite.batch_plan->sizes, (std::vector<int64_t>{3, 8}));
  EXPECT_EQ(suite.batch_plan->join_after, 3);
  EXPECT_EQ(suite.batch_plan->fillers.long_prompt, 300);
  ASSERT_EQ(suite.batch_plan->fillers.sampling.size(), 3u);
  EXPECT_EQ(suite.batch_plan->fillers.sampling[1].top_p, 0.9);
  EXPECT_EQ(suite.batch_plan->round_labels(), (std::vector<std::string>{"batch-3", "batch-8", "join-a", "join-b"}));
}

TEST(Suite, RejectsBadBatchPlans) {
  auto with_plan = [](const std::string& plan) {
    return std::string(R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a", "prompt": "p"}], "batch_plan": )") +
           plan + "}";
  };
  EXPECT_NE(error_for(with_plan("[]")).find("batch_plan: expected an object"), std::string::npos);
  EXPECT_NE(error_for(with_plan("{}")).find("plans nothing"), std::string::npos);
  EXPECT_NE(error_for(with_plan(R"({"sizes": [1]})")).find("batch_plan.sizes[0]: a co-batched size is at least 2"),
            std::string::npos);
  EXPECT_NE(error_for(with_plan(R"({"sizes": [4, 4]})")).find("repeated size 4"), std::string::npos);
  EXPECT_NE(error_for(with_plan(R"({"sizes": [4], "size": 2})")).find("batch_plan.size: unknown key"), std::string::npos);
  EXPECT_NE(error_for(with_plan(R"({"sizes": [4], "fillers": {"prompt_tokens": [9, 3]}})"))
                .find("batch_plan.fillers.prompt_tokens: min is larger than max"),
            std::string::npos);
  EXPECT_NE(error_for(with_plan(R"({"sizes": [4], "fillers": {"sampling": []}})")).find("sampling neighbour"),
            std::string::npos);
  EXPECT_NE(error_for(with_plan(R"({"sizes": [4], "fillers": {"sampling": [{"temperature": 0}]}})"))
                .find("batch_plan.fillers.sampling[0].temperature: must be between"),
            std::string::npos);
  EXPECT_NE(error_for(with_plan(R"({"sizes": [4], "fillers": {"sampling": [{"temperature": 1, "top_p": 1.5}]}})"))
                .find("sampling[0].top_p"),
            std::string::npos);
  EXPECT_NE(error_for(with_plan(R"({"join_after_steps": 0})")).find("join_after_steps: must be between 1"),
            std::string::npos);
}

TEST(Suite, NightlyTakesEveryTiersCase) {
  const Suite tiers = load_suite(std::string(LOCKSTEP_SOURCE_DIR) + "/suites/tiers.json");
  const Suite nightly = load_suite(std::string(LOCKSTEP_SOURCE_DIR) + "/suites/nightly.json");
  EXPECT_EQ(nightly.name, "nightly");
  ASSERT_EQ(nightly.cases.size(), tiers.cases.size());
  for (size_t i = 0; i < tiers.cases.size(); ++i) {
    EXPECT_EQ(nightly.cases[i].id, tiers.cases[i].id);
    EXPECT_EQ(nightly.cases[i].prompt, tiers.cases[i].prompt);
    EXPECT_EQ(nightly.cases[i].max_new_tokens, tiers.cases[i].max_new_tokens);   // the tiers' own defaults
    EXPECT_EQ(nightly.cases[i].tier, tiers.cases[i].tier);
  }
  EXPECT_EQ(nightly.check.kind, "verify");
}

TEST(Suite, CasesFromAppendsAndRejectsNestingAndDuplicates) {
  const testing::TempDir dir;
  testing::write_file(dir / "base.json", kMinimal);
  testing::write_file(dir / "top.json", R"({"schema": "lockstep.suite/0", "name": "t", "cases_from": "base.json",
                                   "cases": [{"id": "b", "prompt": "q"}]})");
  const Suite top = load_suite(dir / "top.json");
  ASSERT_EQ(top.cases.size(), 2u);
  EXPECT_EQ(top.cases[0].id, "a");
  EXPECT_EQ(top.cases[1].id, "b");
  testing::write_file(dir / "dup.json", R"({"schema": "lockstep.suite/0", "name": "d", "cases_from": "base.json",
                                   "cases": [{"id": "a", "prompt": "again"}]})");
  EXPECT_THROW(load_suite(dir / "dup.json"), Error);
  testing::write_file(dir / "nested.json", R"({"schema": "lockstep.suite/0", "name": "n", "cases_from": "top.json"})");
  try {
    load_suite(dir / "nested.json");
    ADD_FAILURE() << "nesting accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot itself use cases_from"), std::string::npos) << e.what();
  }
  testing::write_file(dir / "missing.json", R"({"schema": "lockstep.suite/0", "name": "m", "cases_from": "nope.json"})");
  EXPECT_THROW(load_suite(dir / "missing.json"), Error);
}

TEST(Suite, DefaultsApplyAndCasesOverride) {
  const Suite suite = parse_suite(R"({"schema": "lockstep.suite/0", "name": "d", "description": "x",
    "defaults": {"max_new_tokens": 5, "chat": false},
    "cases": [{"id": "a", "prompt": "p"}, {"id": "b", "prompt": "q", "max_new_tokens": 9, "chat": true}]})",
                                  "t.json");
  EXPECT_EQ(suite.description, "x");
  EXPECT_EQ(suite.cases[0].max_new_tokens, 5);
  EXPECT_FALSE(suite.cases[0].chat);
  EXPECT_EQ(suite.cases[1].max_new_tokens, 9);
  EXPECT_TRUE(suite.cases[1].chat);
}

TEST(Suite, MinimalSuiteGetsBuiltInDefaults) {
  const Suite suite = parse_suite(kMinimal, "t.json");
  EXPECT_EQ(suite.cases[0].max_new_tokens, kDefaultMaxNewTokens);
  EXPECT_TRUE(suite.cases[0].chat);
}

TEST(Suite, RejectsInvalidJson) {
  EXPECT_NE(error_for("{\"schema\": ").find("invalid JSON"), std::string::npos);
  EXPECT_NE(error_for("[1, 2]").find("top level"), std::string::npos);
  // Found by fuzz/suite_fuzz.cpp: a number beyond double range is nlohmann's
  // out_of_range, not a parse_error; it escaped as an uncaught exception.
  EXPECT_NE(error_for(R"({"schema": 1e3081})").find("invalid JSON"), std::string::npos);
}

TEST(Suite, RejectsUnknownSchema) {
  const std::string e = error_for(R"({"schema": "lockstep.suite/9", "name": "m", "cases": [{"id": "a", "prompt": "p"}]})");
  EXPECT_NE(e.find("unknown schema 'lockstep.suite/9'"), std::string::npos) << e;
  EXPECT_NE(e.find("t.json"), std::string::npos) << e;
}

TEST(Suite, RejectsMissingFields) {
  EXPECT_NE(error_for(R"({"name": "m", "cases": []})").find("'schema'"), std::string::npos);
  EXPECT_NE(error_for(R"({"schema": "lockstep.suite/0", "cases": [{"id": "a", "prompt": "p"}]})").find("'name'"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"schema": "lockstep.suite/0", "name": "m"})").find("'cases'"), std::string::npos);
  const std::string e = error_for(R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a"}]})");
  EXPECT_NE(e.find("cases[0]: missing field 'prompt'"), std::string::npos) << e;
}

TEST(Suite, RejectsDuplicateIds) {
  const std::string e = error_for(R"({"schema": "lockstep.suite/0", "name": "m",
    "cases": [{"id": "a", "prompt": "p"}, {"id": "b", "prompt": "p"}, {"id": "a", "prompt": "q"}]})");
  EXPECT_NE(e.find("cases[2].id: duplicate id 'a' (first used by cases[0])"), std::string::npos) << e;
}

// Each row: a suite document, and a part of the message of the error it must raise.
struct BadSuite {
  const char* text;
  const char* message;
};

void expect_errors(std::initializer_list<BadSuite> rows) {
  for (const BadSuite& row : rows) EXPECT_NE(error_for(row.text).find(row.message), std::string::npos) << row.text;
}

TEST(Suite, RejectsWrongTypes) {
  expect_errors({
      {R"({"schema": "lockstep.suite/0", "name": 3, "cases": [{"id": "a", "prompt": "p"}]})", "name: expected a string"},
      {R"({"schema": "lockstep.suite/0", "name": "m", "cases": {}})", "cases: expected an array"},
      {R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a", "prompt": "p", "max_new_tokens": "8"}]})",
       "cases[0].max_new_tokens: expected an integer"},
      {R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a", "prompt": "p", "max_new_tokens": 2.5}]})",
       "expected an integer"},
      {R"({"schema": "lockstep.suite/0", "name": "m", "defaults": {"chat": "yes"}, "cases": [{"id": "a", "prompt": "p"}]})",
       "defaults.chat: expected true or false"},
      {R"({"schema": "lockstep.suite/0", "name": "m", "cases": ["p"]})", "cases[0]: expected an object"},
  });
}

TEST(Suite, RejectsBadValues) {
  expect_errors({
      {R"({"schema": "lockstep.suite/0", "name": "m", "defaults": {"max_new_tokens": 0},
           "cases": [{"id": "a", "prompt": "p"}]})",
       "defaults.max_new_tokens: must be between 1"},
      {R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a", "prompt": "p", "max_new_tokens": -3}]})",
       "must be between 1"},
      {R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "", "prompt": "p"}]})", "cases[0].id: must not be empty"},
      // An empty raw prompt has nothing to tokenize (an empty chat message is fine: below).
      {R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a", "prompt": "", "chat": false}]})",
       "cases[0].prompt: must not be empty"},
      {R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a", "prompt": "p", "tier": 0}]})", "cases[0].tier"},
      {R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a", "prompt": "p", "tier": 9}]})",
       "cases[0].tier: expected 1 to 8"},
      {R"({"schema": "lockstep.suite/0", "name": "m", "cases": []})", "at least one case"},
  });
  EXPECT_EQ(parse_suite(R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a", "prompt": ""}]})", "t")
                .cases[0]
                .prompt,
            "");
}

TEST(Suite, RejectsUnknownKeys) {
  EXPECT_NE(error_for(R"({"schema": "lockstep.suite/0", "name": "m", "tier": 1, "cases": [{"id": "a", "prompt": "p"}]})")
                .find("tier: unknown key"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"schema": "lockstep.suite/0", "name": "m", "defaults": {"temperature": 1},
              "cases": [{"id": "a", "prompt": "p"}]})")
                .find("defaults.temperature: unknown key"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"schema": "lockstep.suite/0", "name": "m", "cases": [{"id": "a", "promt": "p"}]})")
                .find("cases[0].promt: unknown key"),
            std::string::npos);
}

TEST(Suite, MissingFileIsBadInput) {
  testing::expect_error([] { load_suite("/nonexistent/suite.json"); }, ErrorKind::bad_input, "/nonexistent/suite.json");
}

TEST(Suite, FromPromptsAndOverride) {
  Suite suite = suite_from_prompts({"one", "two"}, 7);
  ASSERT_EQ(suite.cases.size(), 2u);
  EXPECT_EQ(suite.cases[1].id, "prompt-2");
  EXPECT_EQ(suite.cases[1].max_new_tokens, 7);
  override_max_new_tokens(suite, 3);
  EXPECT_EQ(suite.cases[0].max_new_tokens, 3);
  EXPECT_THROW(override_max_new_tokens(suite, 0), Error);
  EXPECT_THROW(suite_from_prompts({}, 7), Error);
  EXPECT_THROW(suite_from_prompts({""}, 7), Error);
}

TEST(Suite, SelectCasesByIdAndTier) {
  const Suite tiers = load_suite(std::string(LOCKSTEP_SOURCE_DIR) + "/suites/tiers.json");
  ASSERT_GT(tiers.cases.size(), 8u);
  Suite by_tier = tiers;
  select_cases(by_tier, {}, {2});
  ASSERT_FALSE(by_tier.cases.empty());
  for (const SuiteCase& c : by_tier.cases) EXPECT_EQ(c.tier, 2) << c.id;

  const std::string first = tiers.cases[0].id, last = tiers.cases.back().id;
  Suite by_id = tiers;
  select_cases(by_id, {last, first}, {});   // the suite's order, not the command line's
  ASSERT_EQ(by_id.cases.size(), 2u);
  EXPECT_EQ(by_id.cases[0].id, first);
  EXPECT_EQ(by_id.cases[1].id, last);

  Suite untouched = tiers;
  select_cases(untouched, {}, {});
  EXPECT_EQ(untouched.cases.size(), tiers.cases.size());

  auto refusal = [&](const std::vector<std::string>& ids, const std::vector<int64_t>& levels) -> std::string {
    Suite copy = tiers;
    try {
      select_cases(copy, ids, levels);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_input);
      return e.what();
    }
    return "";
  };
  EXPECT_NE(refusal({"no-such-case"}, {}).find("--case no-such-case: no case of that id"), std::string::npos);
  EXPECT_NE(refusal({}, {9}).find("--tier 9: no case of that tier"), std::string::npos);
  const int other_tier = tiers.cases[0].tier == 1 ? 2 : 1;
  EXPECT_NE(refusal({first}, {other_tier}).find("select no case"), std::string::npos);
}

}  // namespace
}  // namespace lockstep::harness

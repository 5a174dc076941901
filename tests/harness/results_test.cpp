#include "harness/results/results.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "expect_error.h"
#include "results_fixture.h"
#include "temp_dir.h"

namespace lockstep::harness {
namespace {

using json = nlohmann::ordered_json;

TEST(Results, VerdictAndCounts) {
  const VerifyResults r = testing::sample_results();
  EXPECT_FALSE(r.passed());
  EXPECT_TRUE(r.cases[0].passed());
  EXPECT_FALSE(r.cases[1].passed());
  const Counts c = r.counts();
  EXPECT_EQ(c.cases, 2);
  EXPECT_EQ(c.cases_failed, 1);
  EXPECT_EQ(c.comparisons, 4);
  EXPECT_EQ(c.comparisons_failed, 2);

  VerifyResults pass = r;
  pass.cases.pop_back();
  EXPECT_TRUE(pass.passed());
}

TEST(Results, SchemaFields) {
  const json j = to_json(testing::sample_results());
  EXPECT_EQ(j.at("schema"), "lockstep.results/0");
  EXPECT_EQ(j.at("tool").at("name"), "lockstep");
  EXPECT_EQ(j.at("tool").at("version"), "0.1.0");
  EXPECT_EQ(j.at("command").size(), 4u);
  EXPECT_EQ(j.at("started_at"), "2025-01-02T03:04:05Z");
  EXPECT_EQ(j.at("duration_s"), 12.5);
  for (const char* key : {"lockstep_version", "libtorch_version", "cuda_available", "cpu_model", "threads", "os",
                          "compiler"}) {
    EXPECT_TRUE(j.at("environment").contains(key)) << key;
  }
  EXPECT_EQ(j.at("model").at("file_sha256"), std::string(64, 'a'));
  EXPECT_EQ(j.at("verdict"), "fail");
  EXPECT_EQ(j.at("counts").at("comparisons_failed"), 2);
  const json& c = j.at("cases").at(1);
  for (const char* key : {"id", "prompt", "prompt_ids", "output_ids", "text", "ids_sha256", "step_logits_sha256",
                          "runs"}) {
    EXPECT_TRUE(c.contains(key)) << key;
  }
  const json& diverged = c.at("runs").at(0);
  EXPECT_EQ(diverged.at("label"), "run-2");
  EXPECT_EQ(diverged.at("kind"), "reload");
  EXPECT_EQ(diverged.at("match"), false);
  EXPECT_EQ(diverged.at("first_divergence").at("step"), 0);
  EXPECT_EQ(diverged.at("first_divergence").at("expected_sha256"), "t0");
  EXPECT_EQ(diverged.at("first_divergence").at("actual_sha256"), "u0");
  EXPECT_EQ(diverged.at("first_divergence").at("expected_token"), 9);
  EXPECT_TRUE(j.at("cases").at(0).at("runs").at(0).at("first_divergence").is_null());
  EXPECT_EQ(c.at("runs").at(1).at("kind"), "process");
  EXPECT_NE(c.at("runs").at(1).at("error").get<std::string>().find("signal 6"), std::string::npos);
}

TEST(Results, JsonRoundTrip) {
  const VerifyResults a = testing::sample_results();
  const std::string text = dump_json(to_json(a));
  const VerifyResults b = results_from_json(json::parse(text));
  EXPECT_EQ(dump_json(to_json(b)), text);   // a fixed point after the first write
  EXPECT_EQ(b.command, a.command);
  EXPECT_EQ(b.environment.cpu_model, "Test CPU");
  EXPECT_EQ(b.model.name, a.model.name);
  ASSERT_EQ(b.cases.size(), 2u);
  EXPECT_EQ(b.cases[0].reference.step_logits_sha256, a.cases[0].reference.step_logits_sha256);
  EXPECT_EQ(b.cases[1].chat, false);
  ASSERT_TRUE(b.cases[1].runs[0].first_divergence.has_value());
  EXPECT_EQ(b.cases[1].runs[0].first_divergence->actual_sha256, "u0");
  EXPECT_EQ(b.cases[1].runs[1].error, a.cases[1].runs[1].error);
  EXPECT_EQ(b.counts().comparisons_failed, 2);
}

TEST(Results, BatchPlacesAndTheHistogramRoundTrip) {
  VerifyResults a = testing::sample_results();
  BatchPlace place;
  place.sizes = {3, 3};
  place.rows = {1, 0};
  place.joined_running = true;
  place.neighbours.push_back(Neighbour{"case capital", 40, 8, "greedy", -2, 5});
  a.cases[0].runs[0].batch = place;
  a.batch_rounds = {"batch-3", "join-a"};
  a.batch_sizes = {{1, 4}, {3, 2}};
  const std::string text = dump_json(to_json(a));
  const VerifyResults b = results_from_json(json::parse(text));
  EXPECT_EQ(dump_json(to_json(b)), text);
  ASSERT_TRUE(b.cases[0].runs[0].batch.has_value());
  EXPECT_EQ(b.cases[0].runs[0].batch->rows, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(b.cases[0].runs[0].batch->neighbours[0].first_step, -2);
  EXPECT_FALSE(b.cases[0].runs[1].batch.has_value());
  EXPECT_EQ(b.batch_rounds, a.batch_rounds);
  EXPECT_EQ(b.batch_sizes, a.batch_sizes);
  json doc = to_json(a);
  doc["batch_sizes"]["x"] = 1;
  EXPECT_THROW(results_from_json(doc), Error);
}

TEST(Results, InvalidUtf8TextIsReplacedNotFatal) {
  const std::string text = dump_json(to_json(testing::sample_results()));
  EXPECT_NE(text.find("broken \xEF\xBF\xBD"), std::string::npos);
  EXPECT_NO_THROW(json::parse(text));
}

TEST(Results, RejectsOtherDocuments) {
  EXPECT_THROW(results_from_json(json{{"schema", "lockstep.proof/1"}}), Error);
  json j = to_json(testing::sample_results());
  j.erase("cases");
  EXPECT_THROW(results_from_json(j), Error);
}

TEST(Results, WritesAtomicallyCreatingDirectories) {
  const testing::TempDir dir;
  const std::string path = dir / "a/b/results.json";
  write_results(path, testing::sample_results());
  EXPECT_EQ(results_from_json(json::parse(testing::read_file(path))).suite_name, "sample");
  EXPECT_EQ(testing::entries_in(dir / "a/b"), 1);   // no temporary file is left beside it
}

TEST(Results, UnwritablePathIsEnvironmentError) {
  const testing::TempDir dir;
  testing::write_file(dir / "file", "x");
  testing::expect_error([&] { write_results(dir / "file/sub/results.json", testing::sample_results()); },
                        ErrorKind::environment, "is not a directory");
}

}  // namespace
}  // namespace lockstep::harness

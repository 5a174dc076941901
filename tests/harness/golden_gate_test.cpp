// harness/proofs/golden_gate.h without a model: the refusals before a run and the
// update after it (the comparison itself is compare_proofs, tested in
// proof_test.cpp; the end-to-end paths in tests/harness/test_proof_cli.py).
#include "harness/proofs/golden_gate.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "harness/paths.h"
#include "results_fixture.h"
#include "temp_dir.h"

namespace lockstep::harness {
namespace {

// The message of the bad_input `open` throws ("" if it throws none).
template <typename F>
std::string refusal(F open) {
  try {
    open();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input) << e.what();
    return e.what();
  }
  return "";
}

TEST(GoldenGate, NoGoldenOpensEmpty) {
  const GoldenGate gate = open_golden(GoldenRequest{}, std::nullopt, "");
  EXPECT_FALSE(gate.golden.has_value());
  EXPECT_TRUE(gate.model_sha256.empty());
}

TEST(GoldenGate, RefusesWhatARunWouldNotChange) {
  const testing::TempDir dir;
  GoldenRequest update;
  update.update = true;
  EXPECT_NE(refusal([&] { open_golden(update, std::nullopt, ""); }).find("--update-golden needs --golden"),
            std::string::npos);

  GoldenRequest missing;
  missing.path = dir / "absent.proof.json";
  EXPECT_NE(refusal([&] { open_golden(missing, std::nullopt, ""); }).find("create it with --update-golden"),
            std::string::npos);

  update.path = dir / "new/folder/g.proof.json";   // a typo must not become a new golden
  EXPECT_NE(refusal([&] { open_golden(update, std::nullopt, ""); }).find("--create-golden-dir"), std::string::npos);
  update.create_dir = true;
  EXPECT_EQ(refusal([&] { open_golden(update, std::nullopt, ""); }), "");
}

TEST(GoldenGate, UpdatesOnlyFromADeterministicRun) {
  const testing::TempDir dir;
  GoldenRequest request;
  request.path = dir / "g.proof.json";
  request.update = true;
  const GoldenGate gate = open_golden(request, std::nullopt, "");
  std::vector<std::string> notes;
  const Progress progress = [&](const std::string& line) { notes.push_back(line); };

  VerifyResults differed = testing::sample_results();   // its second case has a diverging run
  ASSERT_FALSE(differed.passed());
  const GoldenCheck refused = settle_golden(gate, differed, proof_of(differed), progress);
  EXPECT_FALSE(refused.written);
  EXPECT_FALSE(is_regular_file(request.path));
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("not deterministic itself"), std::string::npos) << notes[0];

  VerifyResults passed = testing::sample_results();
  passed.cases.pop_back();
  ASSERT_TRUE(passed.passed());
  const GoldenCheck written = settle_golden(gate, passed, proof_of(passed), progress);
  EXPECT_TRUE(written.written);
  EXPECT_EQ(written.level, "bits");
  const std::string text = testing::read_file(request.path);   // the sample's digests are not real: not read back
  EXPECT_NE(text.find("lockstep.proof/1"), std::string::npos);
  for (const CaseResult& c : passed.cases) EXPECT_NE(text.find("\"" + c.id + "\""), std::string::npos) << c.id;
}

}  // namespace
}  // namespace lockstep::harness

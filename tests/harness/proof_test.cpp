// harness/proofs/proof.h without the model: round trip, digest, validation and the
// case-by-case comparison on small synthetic proofs.
#include "harness/proofs/proof.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/util/sha256.h"
#include "results_fixture.h"

namespace lockstep::harness {
namespace {

using json = nlohmann::ordered_json;

std::string sha(const std::string& seed) { return sha256_hex(seed); }

ProofCase make_case(const std::string& id, std::vector<int32_t> out) {
  ProofCase c;
  c.id = id;
  c.prompt = "prompt of " + id + " \xc3\xa9";
  c.max_new_tokens = static_cast<int64_t>(out.size());
  c.record.prompt_ids = {1, 2, 3};
  c.record.output_ids = out;
  c.record.ids_sha256 = ids_sha256(out);
  for (size_t s = 0; s < out.size(); ++s) c.record.step_logits_sha256.push_back(sha(id + std::to_string(s)));
  c.record.stop_reason = "max_tokens";
  c.text = "text";
  return c;
}

Proof make_proof() {
  Proof p;
  testing::stamp_identity(p);
  p.suite_name = "s";
  p.cases = {make_case("a", {5, 6, 7}), make_case("b", {8, 9})};
  return p;
}

TEST(Proof, RoundTripsAndDigestCoversEveryField) {
  const json doc = proof_to_json(make_proof());
  const Proof back = proof_from_json(doc, "mem");
  EXPECT_EQ(proof_to_json(back), doc);
  json changed = doc;
  changed["cases"][0]["text"] = "other";
  EXPECT_NE(proof_digest(changed), proof_digest(doc));
  try {
    proof_from_json(changed, "mem");
    FAIL() << "a changed field must fail the digest";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input);
    EXPECT_NE(std::string(e.what()).find("changed after it was written"), std::string::npos) << e.what();
  }
  // The digest ignores key order and a signature member.
  json reordered = json::object();
  for (auto it = doc.rbegin(); it != doc.rend(); ++it) reordered[it.key()] = it.value();
  reordered["signature"] = "anything";
  EXPECT_EQ(proof_digest(reordered), proof_digest(doc));
}

TEST(Proof, ComparisonNamesFirstDivergenceAndMissingCases) {
  const Proof golden = make_proof();
  Proof run = make_proof();
  EXPECT_TRUE(compare_proofs(golden, run, ProofLevel::bits)[0].match);
  run.cases[1].record.step_logits_sha256[1] = sha("moved");
  run.cases.push_back(make_case("c", {1}));
  const std::vector<CaseVerdict> v = compare_proofs(golden, run, ProofLevel::bits);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_TRUE(v[0].match);
  ASSERT_FALSE(v[1].match);
  ASSERT_TRUE(v[1].divergence);
  EXPECT_EQ(v[1].divergence->step, 1);
  EXPECT_EQ(v[1].divergence->reason, "logits");
  EXPECT_EQ(v[2].note, "not in the golden file");
  // Same tokens: equal at level tokens, apart from the extra case.
  const std::vector<CaseVerdict> t = compare_proofs(golden, run, ProofLevel::tokens);
  EXPECT_TRUE(t[0].match && t[1].match);
  EXPECT_FALSE(t[2].match);
  run.cases.erase(run.cases.begin());
  EXPECT_EQ(compare_proofs(golden, run, ProofLevel::bits)[0].note, "missing from the run");
  run.model_sha256 = sha("another model");
  EXPECT_THROW(compare_proofs(golden, run, ProofLevel::bits), Error);
}

TEST(Proof, RejectsStructuralDefectsWithTheFieldNamed) {
  const json good = proof_to_json(make_proof());
  auto reject = [&](const std::function<void(json&)>& change, const std::string& expected) {
    json doc = good;
    change(doc);
    doc["digest"]["value"] = proof_digest(doc);
    try {
      proof_from_json(doc, "f.json");
      ADD_FAILURE() << "accepted: " << expected;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  reject([](json& d) { d["schema"] = "lockstep.proof/2"; }, "is not supported");
  reject([](json& d) { d["cases"][0].erase("output_ids"); }, "cases[0]: missing field 'output_ids'");
  reject([](json& d) { d["cases"][1]["id"] = "a"; }, "duplicate case id 'a'");
  reject([](json& d) { d["cases"][0]["output_ids"][0] = 99; }, "output_ids_sha256: does not match");
  reject([](json& d) { d["cases"][0]["chat"] = "yes"; }, "cases[0].chat: wrong type");
  reject([](json& d) { d["model"]["file_sha256"] = "ABC"; }, "model.file_sha256: expected a SHA-256");
  reject([](json& d) { d["runtime"]["dtype"] = "bf16"; }, "disagree with runtime.environment");
  // Found by fuzz/proof_fuzz.cpp: a float where an integer belongs was cast
  // by nlohmann with static_cast, undefined behaviour out of range.
  reject([](json& d) { d["cases"][0]["input_ids"][0] = 9.2e22; }, "cases[0].input_ids: wrong type");
  reject([](json& d) { d["cases"][0]["output_ids"][0] = 4294967296; }, "cases[0].output_ids: wrong type");
  reject([](json& d) { d["cases"][0]["max_new_tokens"] = 1e300; }, "cases[0].max_new_tokens: wrong type");
  EXPECT_EQ(parse_proof_level("canonical"), ProofLevel::canonical);
  EXPECT_THROW(parse_proof_level("rounded"), Error);
}

}  // namespace
}  // namespace lockstep::harness

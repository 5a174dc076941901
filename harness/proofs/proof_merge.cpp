#include "harness/proofs/proof_merge.h"

#include <map>
#include <set>

#include "core/error.h"
#include "core/util/sha256.h"
#include "harness/env.h"

namespace lockstep::harness {
namespace {

using json = nlohmann::ordered_json;

std::string join_digests(const RunRecord& r, bool with_logits) {
  std::string key;
  for (int32_t id : r.prompt_ids) key += std::to_string(id) + ",";
  key += "|" + r.ids_sha256;
  if (with_logits) {
    for (const std::string& s : r.step_logits_sha256) key += "|" + s;
  }
  return sha256_hex(key.data(), key.size());
}

json source_summary(const MergeSource& s) {
  const Environment& e = s.proof.environment;
  json out = {{"label", s.label},
              {"mode", e.mode},
              {"device", s.proof.device},
              {"dtype", s.proof.dtype},
              {"cpu_model", e.cpu_model},
              {"proof_digest", proof_to_json(s.proof)["digest"]["value"]}};
  if (!e.gpu_name.empty()) {
    out["gpu_name"] = e.gpu_name;
    out["compute_capability"] = e.compute_capability;
  }
  return out;
}

}  // namespace

size_t ProofSet::identical_bits() const {
  size_t n = 0;
  for (const MergedCase& c : cases) n += c.bit_classes.size() == 1 && c.missing_from.empty();
  return n;
}

size_t ProofSet::identical_tokens() const {
  size_t n = 0;
  for (const MergedCase& c : cases) n += c.token_classes == 1 && c.missing_from.empty();
  return n;
}

ProofSet merge_proofs(std::vector<MergeSource> sources) {
  if (sources.empty()) throw bad_input("proof merge: no proofs to merge");
  std::set<std::string> labels;
  for (const MergeSource& s : sources) {
    if (!labels.insert(s.label).second) throw bad_input("proof merge: two sources are labelled '" + s.label + "'");
    const Proof& first = sources.front().proof;
    if (s.proof.model_sha256 != first.model_sha256) {
      throw bad_input("proof merge: '" + s.label + "' is of another model (sha256 " + s.proof.model_sha256.substr(0, 16) +
                      "…) than '" + sources.front().label + "' (" + first.model_sha256.substr(0, 16) + "…)");
    }
    if (s.proof.suite_name != first.suite_name) {
      throw bad_input("proof merge: '" + s.label + "' is of suite '" + s.proof.suite_name + "', '" +
                      sources.front().label + "' of suite '" + first.suite_name + "'");
    }
  }
  ProofSet set;
  std::vector<std::string> order;
  std::set<std::string> seen;
  for (const MergeSource& s : sources) {
    for (const ProofCase& c : s.proof.cases) {
      if (seen.insert(c.id).second) order.push_back(c.id);
    }
  }
  for (const std::string& id : order) {
    MergedCase mc;
    mc.id = id;
    std::map<std::string, size_t> bit_index;
    std::set<std::string> tokens;
    for (const MergeSource& s : sources) {
      const ProofCase* found = nullptr;
      for (const ProofCase& c : s.proof.cases) {
        if (c.id == id) found = &c;
      }
      if (!found) {
        mc.missing_from.push_back(s.label);
        continue;
      }
      const std::string bits = join_digests(found->record, true);
      auto [it, inserted] = bit_index.emplace(bits, mc.bit_classes.size());
      if (inserted) mc.bit_classes.emplace_back();
      mc.bit_classes[it->second].push_back(s.label);
      tokens.insert(join_digests(found->record, false));
    }
    mc.token_classes = tokens.size();
    set.cases.push_back(std::move(mc));
  }
  set.sources = std::move(sources);
  return set;
}

json proofset_to_json(const ProofSet& set) {
  const Proof& first = set.sources.front().proof;
  json sources = json::array(), proofs = json::array(), cases = json::array();
  for (const MergeSource& s : set.sources) {
    sources.push_back(source_summary(s));
    proofs.push_back(proof_to_json(s.proof));
  }
  for (const MergedCase& c : set.cases) {
    cases.push_back({{"id", c.id},
                     {"bit_classes", c.bit_classes},
                     {"token_classes", c.token_classes},
                     {"missing_from", c.missing_from}});
  }
  json doc = {{"schema", kProofSetSchema},
              {"model", {{"name", first.model_name}, {"file_sha256", first.model_sha256}}},
              {"suite", {{"name", first.suite_name}}},
              {"summary",
               {{"sources", set.sources.size()},
                {"cases", set.cases.size()},
                {"identical_bits", set.identical_bits()},
                {"identical_tokens", set.identical_tokens()}}},
              {"sources", sources},
              {"cases", cases},
              {"proofs", proofs}};
  seal(doc);
  return doc;
}

ProofSet proofset_from_json(const json& doc, const std::string& origin) {
  auto fail = [&](const std::string& what) -> void { throw bad_input(origin + ": " + what); };
  if (!doc.is_object() || doc.value("schema", "") != kProofSetSchema) fail("not a lockstep.proofset/1 file");
  const auto digest = doc.find("digest");
  if (digest == doc.end() || !digest->is_object() || !digest->contains("value") ||
      (*digest)["value"] != proof_digest(doc)) {
    fail("digest does not match: the file was changed after it was written");
  }
  const auto proofs = doc.find("proofs");
  const auto sources = doc.find("sources");
  if (proofs == doc.end() || !proofs->is_array() || sources == doc.end() || !sources->is_array() ||
      proofs->size() != sources->size()) {
    fail("expected 'proofs' and 'sources' arrays of the same length");
  }
  std::vector<MergeSource> members;
  for (size_t i = 0; i < proofs->size(); ++i) {
    const json& s = (*sources)[i];
    if (!s.is_object() || !s.contains("label") || !s["label"].is_string()) fail("sources[" + std::to_string(i) + "]: no label");
    members.push_back({s["label"].get<std::string>(), proof_from_json((*proofs)[i], origin + ": proofs[" + std::to_string(i) + "]")});
  }
  ProofSet set = merge_proofs(std::move(members));
  // The table must be the one these proofs give (it is under the digest, but a tool could have
  // written a wrong one).
  json again = proofset_to_json(set);
  if (again["cases"] != doc["cases"] || again["summary"] != doc["summary"]) {
    fail("the agreement table does not match the embedded proofs");
  }
  return set;
}

}  // namespace lockstep::harness

#include "harness/proofs/proof.h"

#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <cmath>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/tokenizer/byte_level.h"
#include "core/util/sha256.h"
#include "harness/atomic_file.h"
#include "harness/json_reader.h"
#include "kernels/enum_names.h"

namespace lockstep::harness {

using json = nlohmann::ordered_json;

constexpr kernels::Named<ProofLevel> kProofLevels[] = {
    {ProofLevel::bits, "bits"}, {ProofLevel::tokens, "tokens"}, {ProofLevel::canonical, "canonical"}};

ProofLevel parse_proof_level(const std::string& name) {
  if (const ProofLevel* level = kernels::value_of(kProofLevels, name)) return *level;
  throw bad_input("unknown proof level '" + name + "' (expected bits, tokens or canonical)");
}

const char* to_string(ProofLevel level) { return kernels::name_of(kProofLevels, level, "?"); }

std::string valid_utf8(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    uint32_t cp = 0;
    if (utf8::next(text, pos, cp)) {
      out.append(text.substr(start, pos - start));
    } else {
      utf8::append(out, 0xFFFD);
      ++pos;
    }
  }
  return out;
}

Proof proof_of(const VerifyResults& results) {
  Proof proof;
  proof.created_at = results.started_at;
  proof.model_name = results.model.name;
  proof.model_sha256 = results.model.file_sha256;
  proof.environment = results.environment;
  proof.device = results.environment.device;
  proof.dtype = results.environment.dtype;
  proof.suite_name = results.suite_name;
  for (const CaseResult& c : results.cases) {
    ProofCase pc{c.id, valid_utf8(c.prompt), c.chat, c.max_new_tokens, valid_utf8(c.text), c.reference};
    pc.record.duration_s = 0.0;
    pc.canonical_top = canonical_top(c.reference.step_top);
    proof.cases.push_back(std::move(pc));
  }
  return proof;
}

namespace {

json body_of(const Proof& p) {
  json cases = json::array();
  for (const ProofCase& c : p.cases) {
    cases.push_back(json{{"id", c.id},
                         {"prompt", c.prompt},
                         {"chat", c.chat},
                         {"max_new_tokens", c.max_new_tokens},
                         {"input_ids", c.record.prompt_ids},
                         {"output_ids", c.record.output_ids},
                         {"output_ids_sha256", c.record.ids_sha256},
                         {"step_logits_sha256", c.record.step_logits_sha256},
                         {"stop_reason", c.record.stop_reason},
                         {"text", c.text}});
    if (!c.canonical_top.empty()) {
      json steps = json::array();
      for (const auto& step : c.canonical_top) {
        json row = json::array();
        for (const auto& [id, units] : step) row.push_back(json::array({id, units ? json(*units) : json(nullptr)}));
        steps.push_back(std::move(row));
      }
      cases.back()["step_top_canonical"] = std::move(steps);
    }
  }
  return json{{"schema", kProofSchema},
              {"created_at", p.created_at},
              {"model", {{"name", p.model_name}, {"file_sha256", p.model_sha256}}},
              {"runtime", {{"device", p.device}, {"dtype", p.dtype}, {"environment", p.environment}}},
              {"suite", {{"name", p.suite_name}}},
              {"cases", cases}};
}

}  // namespace

std::string proof_digest(const json& document) {
  json rest = document;
  rest.erase("digest");
  rest.erase("signature");
  // Canonical form: keys sorted (nlohmann::json's std::map), compact, ASCII.
  const nlohmann::json canonical = nlohmann::json::parse(rest.dump(-1, ' ', true, json::error_handler_t::strict));
  return sha256_hex(canonical.dump(-1, ' ', true));
}

json proof_to_json(const Proof& proof) {
  json doc = body_of(proof);
  seal(doc);
  if (proof.signature) {
    doc["signature"] = {{"algorithm", proof.signature->algorithm},
                        {"public_key", proof.signature->public_key},
                        {"value", proof.signature->value}};
  }
  return doc;
}

std::string check_sealed(const json& doc, const std::string& origin, const char* schema_name, const std::string& what) {
  const JsonReader r(origin);
  if (!doc.is_object()) r.fail("document", "expected a JSON object");
  const auto schema = doc.find("schema");
  if (schema == doc.end() || !schema->is_string()) r.fail("schema", "missing; not a " + what);
  if (*schema != schema_name) {
    r.fail("schema", "'" + schema->get<std::string>() + "' is not supported (expected " + schema_name + ")");
  }
  const json& digest = r.at(doc, "document", "digest");
  if (r.get<std::string>(digest, "digest", "algorithm") != "sha256-canonical-json") {
    r.fail("digest.algorithm", "unsupported (expected sha256-canonical-json)");
  }
  const std::string recorded = r.sha(digest, "digest", "value");
  const std::string actual = proof_digest(doc);
  if (recorded != actual) {
    r.fail("digest", "does not match the content (recorded " + recorded.substr(0, 16) + "…, computed " +
                         actual.substr(0, 16) + "…): the file was changed after it was written");
  }
  return recorded;
}

const json& read_provenance(const JsonReader& r, const json& doc, std::string& created_at, std::string& model_name,
                            std::string& model_sha256, Environment& environment) {
  created_at = r.get<std::string>(doc, "document", "created_at");
  const json& model = r.at(doc, "document", "model");
  model_name = r.get<std::string>(model, "model", "name");
  model_sha256 = r.sha(model, "model", "file_sha256");
  const json& runtime = r.at(doc, "document", "runtime");
  try {
    environment = r.at(runtime, "runtime", "environment").get<Environment>();
  } catch (const Error& e) {
    r.fail("runtime.environment", e.what());
  } catch (const json::exception& e) {
    r.fail("runtime.environment", e.what());
  }
  return runtime;
}

void seal(json& doc) { doc["digest"] = {{"algorithm", "sha256-canonical-json"}, {"value", proof_digest(doc)}}; }

Proof proof_from_json(const json& doc, const std::string& origin) {
  const std::string recorded = check_sealed(doc, origin, kProofSchema, "lockstep proof");
  const JsonReader r(origin);

  Proof p;
  if (auto sig = doc.find("signature"); sig != doc.end()) {
    Signature s{r.get<std::string>(*sig, "signature", "algorithm"), r.get<std::string>(*sig, "signature", "public_key"),
                r.get<std::string>(*sig, "signature", "value")};
    try {
      if (!signature_valid(recorded, s)) {
        r.fail("signature", "does not verify: the digest was not signed by this key (forged or altered)");
      }
    } catch (const Error& e) {
      if (std::string(e.what()).rfind(origin, 0) == 0) throw;
      r.fail("signature", e.what());
    }
    p.signature = s;
  }
  const json& runtime = read_provenance(r, doc, p.created_at, p.model_name, p.model_sha256, p.environment);
  p.device = r.get<std::string>(runtime, "runtime", "device");
  p.dtype = r.get<std::string>(runtime, "runtime", "dtype");
  if (p.device != p.environment.device || p.dtype != p.environment.dtype) {
    r.fail("runtime", "device/dtype (" + p.device + ", " + p.dtype + ") disagree with runtime.environment (" +
                          p.environment.device + ", " + p.environment.dtype + ")");
  }
  p.suite_name = r.get<std::string>(r.at(doc, "document", "suite"), "suite", "name");
  const json& cases = r.at(doc, "document", "cases");
  if (!cases.is_array()) r.fail("cases", "expected an array");
  std::set<std::string> ids;
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& c = cases[i];
    const std::string where = "cases[" + std::to_string(i) + "]";
    ProofCase pc;
    pc.id = r.get<std::string>(c, where, "id");
    if (!ids.insert(pc.id).second) r.fail(where, "duplicate case id '" + pc.id + "'");
    pc.prompt = r.get<std::string>(c, where, "prompt");
    pc.chat = r.get<bool>(c, where, "chat");
    pc.max_new_tokens = r.get<int64_t>(c, where, "max_new_tokens");
    pc.text = r.get<std::string>(c, where, "text");
    pc.record.prompt_ids = r.get<std::vector<int32_t>>(c, where, "input_ids");
    pc.record.output_ids = r.get<std::vector<int32_t>>(c, where, "output_ids");
    pc.record.ids_sha256 = r.sha(c, where, "output_ids_sha256");
    pc.record.step_logits_sha256 = r.get<std::vector<std::string>>(c, where, "step_logits_sha256");
    pc.record.stop_reason = r.get<std::string>(c, where, "stop_reason");
    if (pc.record.step_logits_sha256.size() != pc.record.output_ids.size()) {
      r.fail(where, std::to_string(pc.record.step_logits_sha256.size()) + " logits digests for " +
                        std::to_string(pc.record.output_ids.size()) + " output ids");
    }
    for (size_t s = 0; s < pc.record.step_logits_sha256.size(); ++s) {
      r.check_sha(pc.record.step_logits_sha256[s], where + ".step_logits_sha256[" + std::to_string(s) + "]");
    }
    if (auto it = c.find("step_top_canonical"); it != c.end()) {
      const std::string w = where + ".step_top_canonical";
      if (!it->is_array() || it->size() != pc.record.output_ids.size()) {
        r.fail(w, "expected one list of candidates per output id");
      }
      for (const json& step : *it) {
        if (!step.is_array() || step.size() > 64) r.fail(w, "expected a list of at most 64 [id, units] pairs per step");
        auto& row = pc.canonical_top.emplace_back();
        for (const json& pair : step) {
          if (!pair.is_array() || pair.size() != 2 || !JsonReader::in_range(pair[0], 0, INT32_MAX) ||
              !(JsonReader::in_range(pair[1], INT64_MIN, INT64_MAX) || pair[1].is_null())) {
            r.fail(w, "expected [id, units] with integer units (or null) and an id in 0..2^31-1");
          }
          row.emplace_back(pair[0].get<int32_t>(),
                           pair[1].is_null() ? std::nullopt : std::optional<int64_t>(pair[1].get<int64_t>()));
        }
      }
    }
    if (ids_sha256(pc.record.output_ids) != pc.record.ids_sha256) {
      r.fail(where + ".output_ids_sha256", "does not match output_ids");
    }
    p.cases.push_back(std::move(pc));
  }
  return p;
}

json read_proof_json(const std::string& path) {
  return read_json_file(path, "proof file", 256, "; truncated or corrupted?");
}

Proof read_proof(const std::string& path) { return proof_from_json(read_proof_json(path), path); }

void write_proof(const std::string& path, const Proof& proof, bool overwrite, const std::string& flag_hint) {
  struct stat info {};
  if (!overwrite && ::stat(path.c_str(), &info) == 0) {
    throw bad_input(path + " exists; it is replaced only with " + flag_hint);
  }
  write_file_atomically(path, proof_to_json(proof).dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

namespace {
std::string device_type(const std::string& device) { return device.substr(0, device.find(':')); }
std::string where(const Environment& e) {
  if (device_type(e.device) != "cuda") return e.device + " (" + e.dtype + ")";
  return e.gpu_name + " (compute capability " + e.compute_capability + ", " + e.dtype + ")";
}
}  // namespace

std::string incomparable_reason(const Environment& golden, const Environment& run) {
  if (golden.mode != run.mode) {
    return "it was made with --mode " + golden.mode + ", this run uses --mode " + run.mode;
  }
  if (golden.dtype != run.dtype) return "it was made in " + golden.dtype + ", this run is in " + run.dtype;
  if (run.mode == "portable") return "";
  const bool same = device_type(golden.device) == device_type(run.device) &&
                    (device_type(run.device) != "cuda" || golden.compute_capability == run.compute_capability);
  if (same) return "";
  return "it was made on " + where(golden) + ", this run is on " + where(run) +
         ": only portable-mode proofs compare across hardware (use the golden file of this device class)";
}

std::vector<CaseVerdict> compare_proofs(const Proof& golden, const Proof& actual, ProofLevel level,
                                        double tolerance) {
  if (level == ProofLevel::canonical) {
    if (!(tolerance >= 0.0) || !std::isfinite(tolerance)) {
      throw bad_input("the canonical tolerance must be a finite number >= 0");
    }
    for (const Proof* p : {&golden, &actual}) {
      for (const ProofCase& c : p->cases) {
        if (c.canonical_top.empty() && !c.record.output_ids.empty()) {
          throw bad_input("case '" + c.id + "' of the " + (p == &golden ? "golden/expected" : "actual") +
                          " proof has no rounded candidates (step_top_canonical; a file made before they were "
                          "recorded): compare it at level bits or tokens, or make it again");
        }
      }
    }
  }
  if (golden.model_sha256 != actual.model_sha256) {
    throw bad_input("the proofs are of different models: " + golden.model_name + " (sha256 " +
                    golden.model_sha256.substr(0, 16) + "…) vs " + actual.model_name + " (sha256 " +
                    actual.model_sha256.substr(0, 16) + "…)");
  }
  std::map<std::string, const ProofCase*> by_id;
  for (const ProofCase& c : actual.cases) by_id[c.id] = &c;
  std::vector<CaseVerdict> verdicts;
  std::set<std::string> seen;
  for (const ProofCase& g : golden.cases) {
    seen.insert(g.id);
    CaseVerdict v;
    v.id = g.id;
    auto it = by_id.find(g.id);
    if (it == by_id.end()) {
      v.note = "missing from the run";
    } else if (level == ProofLevel::canonical) {
      v.divergence = canonical_divergence(g.record, g.canonical_top, it->second->record, it->second->canonical_top,
                                          tolerance);
      v.match = !v.divergence;
    } else if (level == ProofLevel::tokens) {
      RunRecord e = g.record, a = it->second->record;
      e.step_logits_sha256.assign(e.output_ids.size(), "");
      a.step_logits_sha256.assign(a.output_ids.size(), "");
      v.divergence = first_divergence(e, a);
      v.match = !v.divergence;
    } else {
      v.divergence = first_divergence(g.record, it->second->record);
      v.match = !v.divergence;
    }
    verdicts.push_back(std::move(v));
  }
  for (const ProofCase& c : actual.cases) {
    if (!seen.count(c.id)) verdicts.push_back(CaseVerdict{c.id, false, std::nullopt, "not in the golden file"});
  }
  return verdicts;
}

}  // namespace lockstep::harness

// Proof files ("lockstep.proof/1", documented in harness/PROOF.md): what a
// suite produced on one machine, kept so that another run — later, after a
// change, on other hardware — can be compared with it bit for bit. A proof
// names the model (SHA-256 of the file), the runtime that produced it and,
// per case, the input ids, the output ids and the SHA-256 of every step's
// raw fp32 logits. Its "digest" is the SHA-256 of the canonical JSON of
// everything else, so a changed byte is caught before any comparison.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "harness/env.h"
#include "harness/results/results.h"
#include "harness/proofs/canonical.h"
#include "harness/runs/run_record.h"
#include "harness/proofs/signature.h"

namespace lockstep::harness {

inline constexpr const char* kProofSchema = "lockstep.proof/1";

// bits: every step's logits digest and token; tokens: the output ids only.
enum class ProofLevel { bits, tokens, canonical };
ProofLevel parse_proof_level(const std::string& name);   // bad_input if unknown
const char* to_string(ProofLevel level);

struct ProofCase {
  std::string id;
  std::string prompt;
  bool chat = true;
  int64_t max_new_tokens = 0;
  std::string text;      // the output decoded (for people; not compared)
  RunRecord record;      // duration_s is not part of a proof
  CanonicalTop canonical_top;   // every step's top candidates, rounded (canonical.h); empty in old files
};

struct Proof {
  std::string created_at;
  std::string model_name;
  std::string model_sha256;
  Environment environment;     // environment.mode is the kernels mode
  std::string device = "cpu";
  std::string dtype = "fp32";
  std::string suite_name;
  std::vector<ProofCase> cases;
  // Optional Ed25519 signature of the digest (signature.h); checked on every
  // read, so a signed file cannot be changed without the key.
  std::optional<Signature> signature;
};

// Proof text fields are for people; a generation can stop inside a character, and the canonical
// JSON needs valid UTF-8: malformed bytes become U+FFFD (one per byte), as in results.json.
std::string valid_utf8(std::string_view text);

// The reference run of every case of a verify run.
Proof proof_of(const VerifyResults& results);

// The JSON document, "digest" (and "signature", if any) included.
nlohmann::ordered_json proof_to_json(const Proof& proof);
// Validates the schema, every field and the digest; bad_input naming
// `origin` and what is wrong (a tampered file fails on its digest).
Proof proof_from_json(const nlohmann::ordered_json& document, const std::string& origin);
// SHA-256 of the canonical form (keys sorted, no whitespace, ASCII) of the
// document without its "digest" and "signature" members.
std::string proof_digest(const nlohmann::ordered_json& document);
class JsonReader;
// The fields a proof and a session trace share: created_at, model.name, model.file_sha256 and
// runtime.environment (bad_input through `r`); returns the "runtime" object.
const nlohmann::ordered_json& read_provenance(const JsonReader& r, const nlohmann::ordered_json& document,
                                              std::string& created_at, std::string& model_name,
                                              std::string& model_sha256, Environment& environment);
// Adds the "digest" member (sha256-canonical-json of the rest) to a proof or trace document.
void seal(nlohmann::ordered_json& document);
// bad_input, "<origin>: <field>: ...", unless the document is an object of this schema whose
// digest matches its content; `what` names the kind of file ("lockstep proof"). Returns the digest.
std::string check_sealed(const nlohmann::ordered_json& document, const std::string& origin, const char* schema,
                  const std::string& what);

// The parsed JSON of a proof (or proof set) file; bad_input if missing, too large or not JSON.
nlohmann::ordered_json read_proof_json(const std::string& path);
// bad_input for a file that is missing, not JSON, or not a valid proof.
Proof read_proof(const std::string& path);
// Atomic. An existing file is replaced only with `overwrite`; otherwise
// bad_input saying which flag would allow it.
void write_proof(const std::string& path, const Proof& proof, bool overwrite, const std::string& flag_hint);

// Why a run in `run` cannot be checked bit for bit against a golden proof made in `golden`
// (different mode or dtype; a different device class unless the mode is portable); "" if it can.
std::string incomparable_reason(const Environment& golden, const Environment& run);

// CaseVerdict is in harness/results/results.h (results.json carries them).
// bad_input when the proofs are for different models (a comparison would be
// meaningless); otherwise one verdict per case of either side, golden order first.
// `tolerance` (logit units) applies to the canonical level only; bad_input there if a side lacks
// the rounded candidates (a file written before they were recorded).
std::vector<CaseVerdict> compare_proofs(const Proof& golden, const Proof& actual, ProofLevel level,
                                        double tolerance = kDefaultCanonicalTolerance);

}  // namespace lockstep::harness

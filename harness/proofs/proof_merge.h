// `lockstep proof merge`: many proofs of one model and suite (from several
// machines, GPU types or processes) in one file, `lockstep.proofset/1`, with
// the agreement table across them: per case, which sources share the same
// bits (prompt ids, output ids and every step's logits digest) and how many
// different token sequences there are. Each source proof is embedded whole,
// with its own digest and signature, so it stays verifiable on its own; the
// set has a digest of its own (canonical JSON, as proofs).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/proofs/proof.h"

namespace lockstep::harness {

inline constexpr const char* kProofSetSchema = "lockstep.proofset/1";

struct MergeSource {
  std::string label;   // e.g. the file name without .proof.json
  Proof proof;
};

struct MergedCase {
  std::string id;
  std::vector<std::vector<std::string>> bit_classes;   // labels sharing the same bits, one list per variant
  size_t token_classes = 0;                            // different output id sequences
  std::vector<std::string> missing_from;               // labels of sources without this case
};

struct ProofSet {
  std::vector<MergeSource> sources;
  std::vector<MergedCase> cases;   // in the first source's order, then any others'
  size_t identical_bits() const;   // cases with one bit class and no missing source
  size_t identical_tokens() const;
};

// bad_input for no sources, duplicate labels, or proofs of different models or suites.
ProofSet merge_proofs(std::vector<MergeSource> sources);

nlohmann::ordered_json proofset_to_json(const ProofSet& set);
// Validates the schema, the digest, every embedded proof (proof_from_json) and the table
// against them; bad_input naming `origin` and what is wrong.
ProofSet proofset_from_json(const nlohmann::ordered_json& document, const std::string& origin);

}  // namespace lockstep::harness

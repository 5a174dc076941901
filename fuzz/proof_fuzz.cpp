// libFuzzer target: lockstep.proof/1 documents (harness/proofs/proof.cpp:
// proof_from_json, including its runtime.environment and signature
// readers) over arbitrary text. read_proof_json adds only a file-size limit
// and json::parse, which are done here the same way. Each input is read
// twice: as it is, and with its digest re-stamped (proof_digest), because a
// mutated document almost never keeps a matching SHA-256 and the reader
// stops at the digest check; the second read reaches everything after it.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "harness/proofs/proof.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto doc = nlohmann::ordered_json::parse(data, data + size, nullptr, false);
  if (doc.is_discarded()) return 0;
  auto read = [](const nlohmann::ordered_json& d) {
    try {
      const auto proof = lockstep::harness::proof_from_json(d, "fuzz.proof.json");
      (void)lockstep::harness::proof_to_json(proof);
    } catch (const lockstep::Error&) {
    }
  };
  read(doc);
  if (!doc.is_object()) return 0;
  auto stamped = doc;
  try {
    stamped["digest"] = {{"algorithm", "sha256-canonical-json"},
                         {"value", lockstep::harness::proof_digest(stamped)}};
  } catch (const lockstep::Error&) {
    return 0;
  }
  read(stamped);
  return 0;
}

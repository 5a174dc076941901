// Ed25519 signatures of proof files (OpenSSL). The signed message is the
// proof's digest (the lower-case hex SHA-256 of its canonical JSON, see
// PROOF.md), so a signature covers every field and survives re-indentation.
//
//   openssl genpkey -algorithm ed25519 -out lockstep-key.pem      # private
//   openssl pkey -in lockstep-key.pem -pubout -out lockstep.pub   # public
#pragma once

#include <string>

namespace lockstep::harness {

struct Signature {
  std::string algorithm = "ed25519";
  std::string public_key;   // base64 of the 32 raw public-key bytes
  std::string value;        // base64 of the 64 signature bytes
};

// bad_input for a key file that is missing or not an Ed25519 private key.
Signature sign_digest(const std::string& digest_hex, const std::string& private_key_pem_path);

// True when `signature` is a valid Ed25519 signature of `digest_hex` by its
// own public_key; bad_input for a malformed signature object.
bool signature_valid(const std::string& digest_hex, const Signature& signature);

// base64 of the raw public key in a PEM file (public or private key);
// bad_input if it is not an Ed25519 key.
std::string public_key_of(const std::string& pem_path);

}  // namespace lockstep::harness

#include "harness/proofs/signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "core/error.h"

namespace lockstep::harness {
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Ctx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string base64(const unsigned char* data, size_t size) {
  std::vector<unsigned char> out(4 * ((size + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(out.data(), data, static_cast<int>(size));
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n));
}

// Decodes exactly `expected` bytes or throws.
std::vector<unsigned char> unbase64(const std::string& text, size_t expected, const char* what) {
  if (text.size() != 4 * ((expected + 2) / 3)) throw bad_input(std::string("signature: malformed ") + what);
  std::vector<unsigned char> out(text.size());
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) throw bad_input(std::string("signature: ") + what + " is not base64");
  out.resize(expected);   // EVP_DecodeBlock keeps the padding's zero bytes
  return out;
}

Key read_key(const std::string& path, bool allow_private) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) throw bad_input(path + ": cannot open the key file");
  EVP_PKEY* key = allow_private ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr) : nullptr;
  if (key == nullptr) {
    std::rewind(f);
    key = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
  }
  std::fclose(f);
  if (key == nullptr) throw bad_input(path + ": not a PEM key");
  Key owned(key, EVP_PKEY_free);
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) throw bad_input(path + ": not an Ed25519 key");
  return owned;
}

std::string raw_public(EVP_PKEY* key) {
  unsigned char raw[32];
  size_t size = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &size) != 1 || size != 32) {
    throw bad_input("signature: cannot read the Ed25519 public key");
  }
  return base64(raw, size);
}

}  // namespace

Signature sign_digest(const std::string& digest_hex, const std::string& private_key_pem_path) {
  FILE* f = std::fopen(private_key_pem_path.c_str(), "r");
  if (f == nullptr) throw bad_input(private_key_pem_path + ": cannot open the key file");
  EVP_PKEY* raw_key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (raw_key == nullptr) throw bad_input(private_key_pem_path + ": not a PEM private key");
  Key key(raw_key, EVP_PKEY_free);
  if (EVP_PKEY_get_base_id(raw_key) != EVP_PKEY_ED25519) {
    throw bad_input(private_key_pem_path + ": not an Ed25519 key");
  }
  Ctx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char sig[64];
  size_t size = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, raw_key) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &size, reinterpret_cast<const unsigned char*>(digest_hex.data()),
                     digest_hex.size()) != 1) {
    throw environment_error("OpenSSL could not sign with " + private_key_pem_path);
  }
  return Signature{"ed25519", raw_public(raw_key), base64(sig, size)};
}

bool signature_valid(const std::string& digest_hex, const Signature& s) {
  if (s.algorithm != "ed25519") throw bad_input("signature: unsupported algorithm '" + s.algorithm + "'");
  const std::vector<unsigned char> pub = unbase64(s.public_key, 32, "public_key");
  const std::vector<unsigned char> sig = unbase64(s.value, 64, "value");
  Key key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size()), EVP_PKEY_free);
  if (!key) throw bad_input("signature: invalid Ed25519 public key");
  Ctx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    throw environment_error("OpenSSL could not set up Ed25519 verification");
  }
  return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), reinterpret_cast<const unsigned char*>(digest_hex.data()),
                          digest_hex.size()) == 1;
}

std::string public_key_of(const std::string& pem_path) { return raw_public(read_key(pem_path, true).get()); }

}  // namespace lockstep::harness

#include "core/util/sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace lockstep {
namespace {

// FIPS 180-2 test vectors.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  Sha256 hash;
  hash.update("ab");
  hash.update("c");
  EXPECT_EQ(hash.hex_digest(), sha256_hex("abc"));
}

TEST(Sha256, FileMatchesBuffer) {
  std::string path = testing::TempDir() + "/sha256_test.bin";
  std::string content(3 << 20, 'x');   // spans several read chunks
  content[12345] = 'y';
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(content.data(), 1, content.size(), f);
  std::fclose(f);
  EXPECT_EQ(sha256_file(path), sha256_hex(content));
  EXPECT_ANY_THROW(sha256_file(path + ".missing"));
}

}  // namespace
}  // namespace lockstep

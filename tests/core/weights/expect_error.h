// How the weights tests check a refusal: lockstep::Error of the right kind
// whose message names what is wrong.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/core/weights/gguf_builder.h"   // TempFile

namespace lockstep::testing {

// Runs `fn`, expecting lockstep::Error of `kind` whose message contains each of `parts`.
inline void expect_error(const std::function<void()>& fn, ErrorKind kind, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected lockstep::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const std::string& p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "message '" << e.what() << "' lacks '" << p << "'";
    }
  }
}

// Opening `bytes` as a `File` (gguf::File, safetensors::File) must fail with
// bad_input naming the file and `parts`.
template <class File>
void expect_bad_file(const std::vector<uint8_t>& bytes, std::vector<std::string> parts) {
  TempFile file(bytes);
  parts.push_back(file.path());
  expect_error([&] { File::open(file.path()); }, ErrorKind::bad_input, parts);
}

}  // namespace lockstep::testing

// The weights tests' refusals: tests/core/expect_error.h, and a file that
// must not open.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/core/expect_error.h"
#include "tests/core/weights/gguf_builder.h"   // TempFile

namespace lockstep::testing {

// Opening `bytes` as a `File` (gguf::File, safetensors::File) must fail with
// bad_input naming the file and `parts`.
template <class File>
void expect_bad_file(const std::vector<uint8_t>& bytes, std::vector<std::string> parts) {
  TempFile file(bytes);
  parts.push_back(file.path());
  expect_error([&] { File::open(file.path()); }, ErrorKind::bad_input, parts);
}

}  // namespace lockstep::testing

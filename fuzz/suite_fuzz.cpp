// libFuzzer target: suite JSON (harness/suite.cpp: parse_suite) over
// arbitrary text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "harness/suite.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)lockstep::harness::parse_suite(std::string(reinterpret_cast<const char*>(data), size),
                                         "fuzz-suite.json");
  } catch (const lockstep::Error&) {
  }
  return 0;
}

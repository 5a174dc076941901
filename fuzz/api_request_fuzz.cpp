// libFuzzer target: the request bodies of `lockstep serve`
// (harness/serve/api_request.cpp) over arbitrary bytes, both endpoints. Any
// outcome but a parsed request or an ApiError (400) is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "harness/serve/api_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (auto parse : {lockstep::serve::parse_completion_request, lockstep::serve::parse_chat_request}) {
    try {
      (void)parse(body, {});
    } catch (const lockstep::serve::ApiError& e) {
      if (e.status != 400) __builtin_trap();
    }
  }
  return 0;
}

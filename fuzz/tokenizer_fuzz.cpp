// libFuzzer target: tokenizer.json (core/tokenizer/hf_tokenizer.cpp and the
// normalizer / pre-tokenizer / decoder / post-processor readers) over
// arbitrary text. A tokenizer that loads then encodes and decodes a short
// fixed string, so the loaded tables are used, not only built.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto tok = lockstep::Tokenizer::from_hf_json(text, "fuzz-tokenizer.json");
    const auto ids = tok.encode("Hello world, 123 <|im_end|> caf\xc3\xa9!\n");
    (void)tok.decode(ids);
  } catch (const lockstep::Error&) {
  }
  return 0;
}

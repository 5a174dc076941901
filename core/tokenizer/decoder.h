// Hugging Face decoders: token spellings back to text. Byte-level BPE uses
// ByteLevel; SentencePiece-style BPE uses Replace("▁", " "), ByteFallback,
// Fuse and Strip(" ", 1, 0), or the older Metaspace decoder.
//
// One deliberate difference: bytes that do not form valid UTF-8 (a token
// sequence cut inside a character) are kept raw, where Hugging Face prints
// U+FFFD, so text streamed token by token concatenates to the same bytes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/tokenizer/pretokenizer.h"

namespace lockstep {

struct DecoderStep {
  enum class Kind { byte_level, replace, byte_fallback, fuse, strip, metaspace };
  Kind kind = Kind::byte_level;
  std::string pattern;   // replace: literal to replace; metaspace: the replacement
  std::string content;   // replace: its replacement; strip: the character stripped
  size_t start = 0;      // strip: at most this many from the left
  size_t stop = 0;       // strip: at most this many from the right
  PrependScheme prepend_scheme = PrependScheme::always;   // metaspace
};

class Decoder {
 public:
  Decoder() = default;   // concatenates the tokens
  explicit Decoder(std::vector<DecoderStep> steps);

  // Hugging Face's decode_chain over all steps, then concatenation.
  std::string decode(std::vector<std::string> tokens) const;
  // What one token contributes in the middle of a sequence: the per-token
  // steps only (no Fuse/Strip, and a Metaspace "▁" is a space).
  std::string piece(const std::string& token) const;
  bool is_byte_level_only() const;

 private:
  std::vector<DecoderStep> steps_;
};

}  // namespace lockstep

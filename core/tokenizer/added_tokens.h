// Added tokens: strings matched as whole tokens before the model runs
// (special tokens such as <|im_start|> or <s>, and user-defined ones), as
// Hugging Face's AddedVocabulary does: leftmost-longest matches, then the
// single_word / lstrip / rstrip rules of each token.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;       // not matched when special tokens are read as text
  bool single_word = false;   // only when no word character touches either side
  bool lstrip = false;        // swallows whitespace on its left
  bool rstrip = false;        // swallows whitespace on its right
  bool normalized = false;    // matched in the normalized text, not the raw one
};

class AddedTokens {
 public:
  AddedTokens() = default;
  // Tokens with empty content never match.
  explicit AddedTokens(std::vector<AddedToken> tokens);

  struct Piece {
    size_t begin;
    size_t end;
    int32_t id;   // -1: plain text between tokens
  };
  // Pieces covering `text` in order (without the whitespace a stripping
  // token swallowed). With `parse_special` off, special tokens still take
  // their match (as in Hugging Face), which then stays text.
  std::vector<Piece> split(std::string_view text, bool parse_special) const;
  bool empty() const { return tokens_.empty(); }

 private:
  const AddedToken* longest_at(std::string_view text, size_t pos) const;

  std::vector<AddedToken> tokens_;
  std::array<std::vector<uint32_t>, 256> by_lead_;   // longest first
};

}  // namespace lockstep

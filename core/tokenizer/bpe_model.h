// The BPE model of Hugging Face tokenizers: one pre-tokenized word in, token
// ids out. The word is cut into initial symbols, then adjacent pairs merge
// by rank, the lowest rank first and the leftmost on a tie.
//
// Two alphabets:
// - byte-level (GPT-2, Llama-3, Qwen2, SmolLM2): every byte of the word is
//   one symbol, looked up by its byte-level spelling ("Ġ" for a space);
// - characters (SentencePiece-style BPE of Llama-2, TinyLlama, Mistral):
//   every UTF-8 character is one symbol; a character the vocabulary lacks
//   becomes its bytes' <0xXX> tokens (byte_fallback) or the unknown token.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lockstep {

struct BpeOptions {
  bool byte_level = true;
  bool byte_fallback = false;   // characters: unknown characters as <0xXX> tokens
  int32_t unk_id = -1;          // -1: no unknown token; an unknown symbol is bad_input
  bool fuse_unk = false;        // consecutive unknown symbols become one unk token
  bool ignore_merges = false;   // a word that is itself in the vocabulary is that token
};

class BpeModel {
 public:
  BpeModel() = default;
  // `vocab` maps spellings (byte-level spelled for a byte-level model) to ids.
  BpeModel(std::unordered_map<std::string, int32_t> vocab, BpeOptions options);

  // Registers merge `rank` of `left` + `right`. Returns the first of the
  // three tokens (left, right, left+right) missing from the vocabulary, or
  // an empty string when the merge was added.
  std::string add_merge(const std::string& left, const std::string& right, int32_t rank);

  // Appends the ids of `word`: raw bytes for a byte-level model, normalized
  // text for a character one. bad_input for a symbol that has no token and
  // no fallback (Hugging Face would silently drop it).
  void encode(std::string_view word, std::vector<int32_t>& out) const;

  const BpeOptions& options() const { return options_; }

 private:
  void initial_symbols(std::string_view word, std::vector<int32_t>& symbols) const;
  void merge(std::vector<int32_t>& symbols) const;

  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};       // byte-level: the token of each byte
  std::array<int32_t, 256> fallback_ids_{};   // characters: the <0xXX> tokens
  BpeOptions options_;
};

}  // namespace lockstep

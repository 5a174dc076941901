// Inside a Tokenizer: the Hugging Face pipeline stages it runs. Shared by the
// GGUF (tokenizer.cpp) and tokenizer.json (hf_tokenizer.cpp) loaders; not a
// public header.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "core/tokenizer/added_tokens.h"
#include "core/tokenizer/bpe_model.h"
#include "core/tokenizer/decoder.h"
#include "core/tokenizer/normalizer.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/tokenizer.h"

namespace lockstep {

struct Tokenizer::Impl {
  std::vector<std::string> tokens;                  // as the vocabulary spells them
  std::vector<TokenType> types;
  std::vector<std::string> pieces;                  // decode_token of each id
  std::unordered_map<std::string, int32_t> by_text;
  AddedTokens raw_added;          // matched in the raw text
  AddedTokens normalized_added;   // matched after the normalizer
  Normalizer normalizer;
  PreTokenizer pre;
  BpeModel model;
  Decoder decoder;
  bool decode_by_pieces = true;   // decode is the concatenated pieces
  int32_t bos = -1;
  int32_t eos = -1;
  bool add_bos = false;
  bool add_eos = false;
  std::string chat_template;

  explicit Impl(PreTokenizer p) : pre(std::move(p)) {}

  // Text between added tokens: normalize, split, merge.
  void encode_plain(std::string_view text, bool at_text_start, bool parse_special,
                    std::vector<int32_t>& out) const;
  void check_id(int32_t id) const;
};

}  // namespace lockstep

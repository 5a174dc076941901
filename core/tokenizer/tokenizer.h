// Byte-level BPE tokenizer (GPT-2 style) built from GGUF metadata:
// tokenizer.ggml.{model,pre,tokens,token_type,merges,bos/eos ids}.
// Text is first split on special (control / user-defined) tokens, then each
// piece is pre-tokenized with the family's regex (PCRE2), mapped to the
// byte-level alphabet and merged by rank.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep::gguf { class File; }

namespace lockstep {

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

// What a byte-level BPE tokenizer is made of, as GGUF stores it.
struct TokenizerVocab {
  std::vector<std::string> tokens;      // byte-level spelling; specials as written
  std::vector<int32_t> token_types;     // TokenType values; empty: all normal
  std::vector<std::string> merges;      // "left right", best first
  std::string pre = "gpt2";             // pre-tokenizer family
  int32_t bos_id = -1;                  // -1: none
  int32_t eos_id = -1;
  bool add_bos = false;
};

class Tokenizer {
 public:
  // bad_input for a tokenizer that is not byte-level BPE (model != "gpt2"),
  // an unknown pre-tokenizer or inconsistent arrays.
  static Tokenizer from_gguf(const gguf::File& file);
  static Tokenizer from_vocab(TokenizerVocab vocab);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // With parse_special, special tokens written in the text ("<|im_start|>")
  // become their ids; without it they are tokenized as plain text.
  // User-defined tokens (type 4) are matched either way, as in llama.cpp
  // and Hugging Face (they are added tokens, not special ones). BOS is never
  // added here: callers check add_bos().
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  // Raw bytes: a token that ends inside a UTF-8 sequence leaves the partial
  // bytes in place (Hugging Face would print U+FFFD instead).
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string decode_token(int32_t id) const;   // bad_input if out of range

  // Id of the token spelled `token_text` in the vocabulary ("Ġthe",
  // "<|im_end|>"); nullopt if there is none.
  std::optional<int32_t> token_id(std::string_view token_text) const;
  TokenType token_type(int32_t id) const;       // bad_input if out of range
  int32_t vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  bool add_bos() const;   // tokenizer.ggml.add_bos_token
  const std::string& pre_tokenizer() const;   // tokenizer.ggml.pre

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep

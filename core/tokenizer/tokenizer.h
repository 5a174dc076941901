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

class Tokenizer {
 public:
  static Tokenizer from_gguf(const gguf::File& file);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // With parse_special, special tokens written in the text ("<|im_start|>")
  // become their ids; without it they are tokenized as plain text.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string decode_token(int32_t id) const;   // bad_input if out of range

  std::optional<int32_t> token_id(std::string_view token_text) const;
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

// BPE tokenizers as Hugging Face `tokenizers` runs them, loaded from
// - GGUF metadata (from_gguf): byte-level BPE, tokenizer.ggml.{model,pre,
//   tokens,token_type,merges,bos/eos ids}, the pre-tokenizer regex named by
//   tokenizer.ggml.pre;
// - a Hugging Face tokenizer.json (+ tokenizer_config.json, chat_template.jinja)
//   (from_hf): byte-level BPE (GPT-2, Llama-3, Qwen2/2.5/3, SmolLM2) with the
//   file's own Split regex, and SentencePiece-style BPE (Llama-2, TinyLlama,
//   Mistral: "▁" for spaces, <0xXX> byte fallback, unknown token).
// Encoding runs Hugging Face's pipeline: added tokens are split out of the
// text, the rest is normalized, pre-tokenized (PCRE2 regexes) and merged by
// rank. What is not supported (WordPiece, Unigram, other normalizers or
// pre-tokenizers) is refused at load time with bad_input.
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
  // `path`: a model folder holding tokenizer.json, or the tokenizer.json
  // file itself; tokenizer_config.json (add_bos_token, add_eos_token,
  // bos_token, eos_token, chat_template) and chat_template.jinja beside it
  // are read when present. bad_input naming the file and JSON path for
  // anything malformed or unsupported; environment_error if tokenizer.json
  // cannot be read.
  static Tokenizer from_hf(const std::string& path);
  // tokenizer.json text alone (no tokenizer_config.json, no chat template):
  // the same parse, for fuzzing and tests; `origin` names it in messages.
  static Tokenizer from_hf_json(const std::string& json_text, const std::string& origin);
  static Tokenizer from_vocab(TokenizerVocab vocab);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // With parse_special, special tokens written in the text ("<|im_start|>")
  // become their ids; without it they are tokenized as plain text.
  // User-defined tokens (type 4) are matched either way, as in llama.cpp
  // and Hugging Face (they are added tokens, not special ones). BOS is never
  // added here: callers check add_bos(), or use with_special_tokens().
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  // `ids` with BOS before (add_bos()) and EOS after (add_eos()): what Hugging
  // Face's encode(add_special_tokens=True) adds.
  std::vector<int32_t> with_special_tokens(std::vector<int32_t> ids) const;
  // Hugging Face's decode (special tokens kept), except that bytes which do
  // not form UTF-8 stay raw: a token that ends inside a UTF-8 sequence leaves
  // the partial bytes in place (Hugging Face would print U+FFFD instead).
  // Added tokens decode as written.
  std::string decode(const std::vector<int32_t>& ids) const;
  // What one token contributes inside a sequence ("▁the" -> " the",
  // "<0x0A>" -> "\n"); bad_input if out of range.
  std::string decode_token(int32_t id) const;

  // Id of the token spelled `token_text` in the vocabulary ("Ġthe",
  // "<|im_end|>"); nullopt if there is none.
  std::optional<int32_t> token_id(std::string_view token_text) const;
  TokenType token_type(int32_t id) const;       // bad_input if out of range
  int32_t vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  bool add_bos() const;   // tokenizer.ggml.add_bos_token; tokenizer.json: post-processor
  bool add_eos() const;
  // tokenizer.ggml.pre, or for tokenizer.json the family whose regex it
  // uses ("llama3", "qwen2", "gpt2", ...), "metaspace", "none" or "custom".
  const std::string& pre_tokenizer() const;
  // The Jinja chat template source that came with the tokenizer; empty if none.
  const std::string& chat_template() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  // from_hf's body; config_folder empty: no tokenizer_config.json.
  static Tokenizer build_hf(const std::string& text, const std::string& file,
                            const std::string& config_folder);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep

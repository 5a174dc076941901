// Hugging Face normalizers: text rewrites applied to every stretch of text
// between added tokens, before pre-tokenization. SentencePiece-style BPE
// (Llama-2, TinyLlama, Mistral) uses Prepend("▁") + Replace(" ", "▁");
// Qwen2 uses NFC. Unicode normalization forms come from ICU.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep {

struct NormalizerStep {
  enum class Kind { prepend, replace, nfc, nfd, nfkc, nfkd };
  Kind kind = Kind::nfc;
  std::string text;      // prepend: what to prepend; replace: the pattern
  bool regex = false;    // replace: `text` is a PCRE2 regex, not a literal
  std::string content;   // replace: the replacement
};

class Normalizer {
 public:
  Normalizer();   // does nothing
  // bad_input when a replace regex does not compile.
  explicit Normalizer(std::vector<NormalizerStep> steps);
  Normalizer(Normalizer&&) noexcept;
  Normalizer& operator=(Normalizer&&) noexcept;
  ~Normalizer();

  // Malformed UTF-8 passes through the Unicode normalization forms untouched.
  std::string apply(std::string_view text) const;
  bool empty() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep

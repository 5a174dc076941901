// Pre-tokenization: cutting text into the pieces BPE merges within. Each
// model family learned its merges on pieces cut by a particular regex, named
// in GGUF by tokenizer.ggml.pre; using another regex gives other token ids.
// The regexes run on PCRE2 in UTF + UCP mode so \s, \p{L} and \p{N} have
// their Unicode meaning, as in Hugging Face tokenizers.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep {

class PreTokenizer {
 public:
  // bad_input naming `pre` when lockstep does not know it.
  static PreTokenizer for_name(const std::string& pre);
  static std::vector<std::string> supported_names();

  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // Pieces that concatenate back to `text`: the regex's matches and the
  // text between them. Malformed UTF-8 never matches, so it ends up in
  // pieces of its own rather than failing.
  std::vector<std::string_view> split(std::string_view text) const;
  const std::string& name() const;

 private:
  struct Impl;
  explicit PreTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep

// A compiled PCRE2 regex in UTF + UCP mode, so \s, \w, \p{L} and \p{N} have
// their Unicode meaning, as in Hugging Face tokenizers (Oniguruma) and
// llama.cpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

struct pcre2_real_code_8;

namespace lockstep {

class Regex {
 public:
  // bad_input naming `what` when the pattern does not compile.
  Regex(const std::string& pattern, const std::string& what);
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex();

  struct Span {
    size_t begin;
    size_t end;
    bool is_match;
  };
  // The matches in `text` and the stretches between them, in order, covering
  // all of it. Empty matches are skipped; malformed UTF-8 never matches, so
  // it ends up in the stretches between.
  std::vector<Span> find_matches(std::string_view text) const;
  // Whether the pattern matches anywhere in `text`.
  bool search(std::string_view text) const;

 private:
  pcre2_real_code_8* code_ = nullptr;
};

}  // namespace lockstep

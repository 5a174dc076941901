// Pre-tokenization: cutting text into the words BPE merges within. Each
// model family learned its merges on words cut a particular way; cutting
// another way gives other token ids.
//
// A PreTokenizer is a chain of Hugging Face pre-tokenizer steps, each
// applied to every piece the previous one produced:
// - split: a regex (PCRE2, UTF + UCP: \s, \p{L} and \p{N} mean what they
//   mean in Hugging Face tokenizers) with a delimiter behavior;
// - byte_level: GPT-2's optional prefix space and regex; the bytes stay raw
//   (the byte-level model spells them);
// - metaspace: spaces become "▁", an optional "▁" prefix, optional split
//   before each "▁" (SentencePiece layouts);
// - digits: numbers cut out, digit by digit or as runs.
// GGUF files name their family's regex in tokenizer.ggml.pre (for_name).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep {

// Hugging Face's SplitDelimiterBehavior.
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };
// Hugging Face's Metaspace PrependScheme.
enum class PrependScheme { always, first, never };

struct PreTokenizerStep {
  enum class Kind { split, byte_level, metaspace, digits };
  Kind kind = Kind::split;
  std::string pattern;             // split: a PCRE2 regex
  SplitBehavior behavior = SplitBehavior::isolated;
  bool invert = false;             // split: the pieces between matches are the delimiters
  bool add_prefix_space = false;   // byte_level
  bool use_regex = true;           // byte_level: GPT-2's regex
  std::string replacement = "\u2581";                  // metaspace
  PrependScheme prepend_scheme = PrependScheme::always;
  bool split = true;               // metaspace: cut before every replacement
  bool individual_digits = false;  // digits
};

class PreTokenizer {
 public:
  // bad_input naming `pre` when lockstep does not know it.
  static PreTokenizer for_name(const std::string& pre);
  static std::vector<std::string> supported_names();
  // The GGUF family name whose regex is `pattern`, or "" for another regex.
  static std::string family_of(const std::string& pattern);
  // bad_input when a regex does not compile.
  static PreTokenizer from_steps(std::string name, std::vector<PreTokenizerStep> steps);

  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // Non-empty pieces in order. Without metaspace steps they concatenate
  // back to `text` (plus any prefix space). `at_text_start`: `text` begins
  // the user's text (Metaspace's "first" prepend scheme looks at that).
  // Malformed UTF-8 never matches a regex, so it ends up in pieces of its
  // own rather than failing.
  std::vector<std::string> split(std::string_view text, bool at_text_start = true) const;
  const std::string& name() const;

 private:
  struct Impl;
  explicit PreTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep

#include "core/tokenizer/pretokenizer.h"

#include <algorithm>
#include <map>
#include <utility>

#include "core/error.h"
#include "core/tokenizer/regex.h"

namespace lockstep {
namespace {

// The regexes are the ones Hugging Face transformers pairs with each GGUF
// `tokenizer.ggml.pre` value (integrations/gguf/gguf_tokenizer_mapping.py),
// which agree with llama.cpp's for these families.
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen35 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N})"
    R"(| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)"
    R"(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kGpt4o =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const std::map<std::string, const char*>& families() {
  static const std::map<std::string, const char*> table = {
      {"default", kGpt2},   {"gpt2", kGpt2},
      // SmolLM2's own tokenizer.json (and llama.cpp) isolate each \p{N} before
      // the GPT-2 regex; transformers, loading the GGUF, knows no "smollm"
      // and uses plain GPT-2. The vocabulary has no multi-digit tokens, so
      // the two differ only around non-ASCII numerals (" ²": transformers
      // "ĠÂ" "²", llama.cpp "Ġ" "Â²"). We follow transformers, the reference
      // lockstep is checked against.
      {"smollm", kGpt2},
      {"llama3", kLlama3},  {"llama-v3", kLlama3}, {"llama-bpe", kLlama3},
      {"falcon3", kLlama3}, {"smaug-bpe", kLlama3}, {"dbrx", kLlama3},
      {"qwen2", kQwen2},    {"deepseek-r1-qwen", kQwen2}, {"megrez", kQwen2},
      {"qwen35", kQwen35},  {"tekken", kTekken},
      {"gpt-4o", kGpt4o},   {"llama4", kGpt4o},
  };
  return table;
}

struct Piece {
  std::string text;
  bool at_start;   // begins the user's text
};

// Hugging Face's NormalizedString::split: which stretches become pieces.
std::vector<std::pair<size_t, size_t>> apply_behavior(const std::vector<Regex::Span>& spans,
                                                      SplitBehavior behavior) {
  std::vector<std::pair<size_t, size_t>> out;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::isolated:
      for (const Regex::Span& s : spans) out.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::removed:
      for (const Regex::Span& s : spans) {
        if (!s.is_match) out.emplace_back(s.begin, s.end);
      }
      break;
    case SplitBehavior::contiguous:
    case SplitBehavior::merged_with_previous:
      for (const Regex::Span& s : spans) {
        // contiguous: a run of matches (or of non-matches) is one piece;
        // merged_with_previous: a match joins the piece before it.
        const bool joins = behavior == SplitBehavior::contiguous ? s.is_match == previous_match
                                                                 : s.is_match && !previous_match;
        if (joins && !out.empty()) {
          out.back().second = s.end;
        } else {
          out.emplace_back(s.begin, s.end);
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::merged_with_next:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) {
          out.back().first = it->begin;
        } else {
          out.emplace_back(it->begin, it->end);
        }
        previous_match = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
  }
  return out;
}

void emit(const Piece& parent, const std::vector<std::pair<size_t, size_t>>& ranges,
          std::vector<Piece>& out) {
  for (const auto& [begin, end] : ranges) {
    if (end > begin) {
      out.push_back({parent.text.substr(begin, end - begin), parent.at_start && begin == 0});
    }
  }
}

// Every occurrence of `needle` as a match (Hugging Face's char pattern).
std::vector<Regex::Span> occurrences(const std::string& text, const std::string& needle) {
  std::vector<Regex::Span> spans;
  size_t start = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    if (at > start) spans.push_back({start, at, false});
    spans.push_back({at, at + needle.size(), true});
    start = at + needle.size();
  }
  if (start < text.size()) spans.push_back({start, text.size(), false});
  return spans;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

struct CompiledStep {
  PreTokenizerStep step;
  std::unique_ptr<Regex> regex;   // split, digits and byte_level with use_regex

  void apply(Piece piece, std::vector<Piece>& out) const {
    switch (step.kind) {
      case PreTokenizerStep::Kind::split: {
        std::vector<Regex::Span> spans = regex->find_matches(piece.text);
        if (step.invert) {
          for (Regex::Span& s : spans) s.is_match = !s.is_match;
        }
        emit(piece, apply_behavior(spans, step.behavior), out);
        return;
      }
      case PreTokenizerStep::Kind::digits:
        emit(piece, apply_behavior(regex->find_matches(piece.text), SplitBehavior::isolated), out);
        return;
      case PreTokenizerStep::Kind::byte_level:
        // Hugging Face prepends only to a non-empty piece.
        if (step.add_prefix_space && !piece.text.empty() && piece.text[0] != ' ') {
          piece.text.insert(0, " ");
        }
        if (!regex) {
          if (!piece.text.empty()) out.push_back(std::move(piece));
          return;
        }
        emit(piece, apply_behavior(regex->find_matches(piece.text), SplitBehavior::isolated), out);
        return;
      case PreTokenizerStep::Kind::metaspace: {
        replace_all(piece.text, " ", step.replacement);
        const bool starts = piece.text.compare(0, step.replacement.size(), step.replacement) == 0;
        const bool prepend =
            step.prepend_scheme == PrependScheme::always ||
            (step.prepend_scheme == PrependScheme::first && piece.at_start);
        if (prepend && !starts && !piece.text.empty()) piece.text.insert(0, step.replacement);
        if (!step.split) {
          if (!piece.text.empty()) out.push_back(std::move(piece));
          return;
        }
        emit(piece,
             apply_behavior(occurrences(piece.text, step.replacement),
                            SplitBehavior::merged_with_next),
             out);
        return;
      }
    }
  }
};

}  // namespace

struct PreTokenizer::Impl {
  std::string name;
  std::vector<CompiledStep> steps;
};

PreTokenizer::PreTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

PreTokenizer PreTokenizer::for_name(const std::string& pre) {
  const auto it = families().find(pre);
  if (it == families().end()) {
    std::string known;
    for (const std::string& name : supported_names()) known += (known.empty() ? "" : ", ") + name;
    throw bad_input("unsupported pre-tokenizer \"" + pre +
                    "\" (tokenizer.ggml.pre); lockstep knows: " + known);
  }
  PreTokenizerStep step;
  step.pattern = it->second;
  return from_steps(pre, {step});
}

std::vector<std::string> PreTokenizer::supported_names() {
  std::vector<std::string> names;
  for (const auto& entry : families()) names.push_back(entry.first);
  return names;
}

std::string PreTokenizer::family_of(const std::string& pattern) {
  // Several names share a regex; answer with the family's own name.
  for (const char* name : {"gpt2", "llama3", "qwen2", "qwen35", "tekken", "gpt-4o"}) {
    if (pattern == families().at(name)) return name;
  }
  return "";
}

PreTokenizer PreTokenizer::from_steps(std::string name, std::vector<PreTokenizerStep> steps) {
  auto impl = std::make_unique<Impl>();
  impl->name = std::move(name);
  for (PreTokenizerStep& step : steps) {
    CompiledStep compiled{std::move(step), nullptr};
    const PreTokenizerStep& s = compiled.step;
    if (s.kind == PreTokenizerStep::Kind::split) {
      compiled.regex = std::make_unique<Regex>(s.pattern, "pre-tokenizer regex");
    } else if (s.kind == PreTokenizerStep::Kind::digits) {
      compiled.regex = std::make_unique<Regex>(s.individual_digits ? R"(\p{N})" : R"(\p{N}+)",
                                               "digits regex");
    } else if (s.kind == PreTokenizerStep::Kind::byte_level && s.use_regex) {
      compiled.regex = std::make_unique<Regex>(kGpt2, "byte-level regex");
    } else if (s.kind == PreTokenizerStep::Kind::metaspace && s.replacement.empty()) {
      throw bad_input("metaspace replacement is empty");
    }
    impl->steps.push_back(std::move(compiled));
  }
  return PreTokenizer(std::move(impl));
}

std::vector<std::string> PreTokenizer::split(std::string_view text, bool at_text_start) const {
  std::vector<Piece> pieces;
  if (!text.empty()) pieces.push_back({std::string(text), at_text_start});
  for (const CompiledStep& step : impl_->steps) {
    std::vector<Piece> next;
    next.reserve(pieces.size());
    for (Piece& piece : pieces) step.apply(std::move(piece), next);
    pieces = std::move(next);
  }
  std::vector<std::string> out;
  out.reserve(pieces.size());
  for (Piece& piece : pieces) out.push_back(std::move(piece.text));
  return out;
}

const std::string& PreTokenizer::name() const { return impl_->name; }

}  // namespace lockstep

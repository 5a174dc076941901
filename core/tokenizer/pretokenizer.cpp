#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <map>

#include "core/error.h"
#include "core/tokenizer/byte_level.h"

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

struct MatchData {
  explicit MatchData(const pcre2_code* code)
      : md(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(md); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
  pcre2_match_data* md;
};

class Regex {
 public:
  explicit Regex(const char* pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    // MATCH_INVALID_UTF: malformed UTF-8 in user text simply never matches
    // instead of making every match call fail.
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset,
                          nullptr);
    if (code_ == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      throw bad_input("pre-tokenizer regex does not compile at offset " + std::to_string(offset) +
                      ": " + reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);   // interpreted matching if JIT is absent
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() { pcre2_code_free(code_); }

  // Appends to `out` the matches in `text` and the stretches between them.
  void split(std::string_view text, std::vector<std::string_view>& out) const {
    // Match data is per call so one PreTokenizer can serve several threads.
    const MatchData data(code_);
    pcre2_match_data* md = data.md;
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t start = 0;   // first byte not yet emitted
    size_t offset = 0;  // where the next search starts
    while (offset < text.size()) {
      const int rc = pcre2_match(code_, subject, text.size(), offset, 0, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof(message));
        throw bad_input(std::string("pre-tokenizer failed: ") +
                        reinterpret_cast<const char*>(message));
      }
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(md);
      const size_t begin = ovector[0];
      const size_t end = ovector[1];
      if (end == begin) {   // none of our regexes matches empty; never loop on one
        if (end >= text.size()) break;
        offset = end + utf8::sequence_length(static_cast<uint8_t>(text[end]));
        continue;
      }
      if (begin > start) out.push_back(text.substr(start, begin - start));
      out.push_back(text.substr(begin, end - begin));
      start = offset = end;
    }
    if (start < text.size()) out.push_back(text.substr(start));
  }

 private:
  pcre2_code* code_ = nullptr;
};

}  // namespace

struct PreTokenizer::Impl {
  Impl(std::string n, const char* pattern) : name(std::move(n)), regex(pattern) {}
  std::string name;
  Regex regex;
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
  return PreTokenizer(std::make_unique<Impl>(pre, it->second));
}

std::vector<std::string> PreTokenizer::supported_names() {
  std::vector<std::string> names;
  for (const auto& entry : families()) names.push_back(entry.first);
  return names;
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  impl_->regex.split(text, pieces);
  return pieces;
}

const std::string& PreTokenizer::name() const { return impl_->name; }

}  // namespace lockstep

#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"
#include "core/tokenizer/byte_level.h"

namespace lockstep {
namespace {

struct MatchData {
  explicit MatchData(const pcre2_code* code)
      : md(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(md); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
  pcre2_match_data* md;
};

std::string error_message(int code) {
  PCRE2_UCHAR message[256];
  pcre2_get_error_message(code, message, sizeof(message));
  return reinterpret_cast<const char*>(message);
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& what) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  // MATCH_INVALID_UTF: malformed UTF-8 in user text simply never matches
  // instead of making every match call fail.
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (code_ == nullptr) {
    throw bad_input(what + " does not compile at offset " + std::to_string(offset) + ": " +
                    error_message(error));
  }
  pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);   // interpreted matching if JIT is absent
}

Regex::~Regex() { pcre2_code_free(code_); }

std::vector<Regex::Span> Regex::find_matches(std::string_view text) const {
  std::vector<Span> spans;
  // Match data is per call so one regex can serve several threads.
  const MatchData data(code_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;   // first byte not yet covered
  size_t offset = 0;  // where the next search starts
  while (offset < text.size()) {
    const int rc = pcre2_match(code_, subject, text.size(), offset, 0, data.md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw bad_input("pre-tokenizer regex failed: " + error_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.md);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end == begin) {   // never loop on an empty match
      if (end >= text.size()) break;
      offset = end + utf8::sequence_length(static_cast<uint8_t>(text[end]));
      continue;
    }
    if (begin > start) spans.push_back({start, begin, false});
    spans.push_back({begin, end, true});
    start = offset = end;
  }
  if (start < text.size()) spans.push_back({start, text.size(), false});
  return spans;
}

bool Regex::search(std::string_view text) const {
  const MatchData data(code_);
  const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0,
                             data.md, nullptr);
  return rc >= 0;
}

}  // namespace lockstep

#include "core/tokenizer/added_tokens.h"

#include <algorithm>

#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/regex.h"

namespace lockstep {
namespace {

// Unicode White_Space, what Rust's regex \s matches.
bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// Start of the whitespace run that ends `text`.
size_t trailing_space_start(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
    size_t pos = start;
    uint32_t cp = 0;
    if (!utf8::next(text, pos, cp) || pos != end || !is_space(cp)) break;
    end = start;
  }
  return end;
}

// Length of the whitespace run that starts `text`.
size_t leading_space_length(std::string_view text) {
  size_t pos = 0;
  uint32_t cp = 0;
  while (true) {
    size_t next = pos;
    if (!utf8::next(text, next, cp) || !is_space(cp)) return pos;
    pos = next;
  }
}

const Regex& word_start() {
  static const Regex r(R"(\A\w)", "word regex");
  return r;
}
const Regex& word_end() {
  static const Regex r(R"(\w\z)", "word regex");
  return r;
}

}  // namespace

AddedTokens::AddedTokens(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  for (uint32_t i = 0; i < tokens_.size(); ++i) {
    if (!tokens_[i].content.empty()) {
      by_lead_[static_cast<uint8_t>(tokens_[i].content[0])].push_back(i);
    }
  }
  for (auto& bucket : by_lead_) {
    std::stable_sort(bucket.begin(), bucket.end(), [&](uint32_t a, uint32_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
  }
}

const AddedToken* AddedTokens::longest_at(std::string_view text, size_t pos) const {
  for (const uint32_t index : by_lead_[static_cast<uint8_t>(text[pos])]) {
    const AddedToken& t = tokens_[index];
    if (text.compare(pos, t.content.size(), t.content) == 0) return &t;
  }
  return nullptr;
}

// Hugging Face's AddedVocabulary::find_matches over a leftmost-longest scan.
std::vector<AddedTokens::Piece> AddedTokens::split(std::string_view text, bool parse_special) const {
  std::vector<Piece> pieces;
  size_t covered = 0;   // end of the last piece pushed
  size_t pos = 0;
  while (pos < text.size() && !tokens_.empty()) {
    const AddedToken* found = longest_at(text, pos);
    if (found == nullptr) {
      ++pos;
      continue;
    }
    size_t start = pos;
    size_t stop = pos + found->content.size();
    pos = stop;   // the scan resumes after the match, whether it is used or not
    if (found->special && !parse_special) continue;
    if (found->single_word) {
      const bool free_left = start == 0 || !word_end().search(text.substr(0, start));
      const bool free_right = stop == text.size() || !word_start().search(text.substr(stop));
      if (!free_left || !free_right) continue;
    }
    if (found->lstrip) start = std::max(trailing_space_start(text.substr(0, start)), covered);
    if (found->rstrip) stop += leading_space_length(text.substr(stop));
    if (covered < start) pieces.push_back({covered, start, -1});
    pieces.push_back({start, stop, found->id});
    covered = stop;
    pos = std::max(pos, stop);
  }
  if (covered < text.size()) pieces.push_back({covered, text.size(), -1});
  return pieces;
}

}  // namespace lockstep

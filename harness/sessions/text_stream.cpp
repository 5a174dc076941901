#include "harness/sessions/text_stream.h"

#include <algorithm>

#include "core/tokenizer/tokenizer.h"
#include "harness/proofs/proof.h"

namespace lockstep::harness {

size_t complete_utf8(const std::string& text) {
  const size_t n = text.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;   // a continuation byte: look further back
    const size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return back >= need ? n : n - back;
  }
  return n;
}

TextStream::TextStream(const Tokenizer& tokenizer, std::vector<int32_t> skip, std::vector<std::string> stops)
    : tokenizer_(tokenizer), skip_(std::move(skip)), stops_(std::move(stops)) {
  for (const std::string& s : stops_) hold_ = std::max(hold_, s.empty() ? 0 : s.size() - 1);
}

std::string TextStream::push(int32_t token) {
  if (stopped_) return {};
  if (std::find(skip_.begin(), skip_.end(), token) == skip_.end()) ids_.push_back(token);
  return release(false);
}

std::string TextStream::finish() { return stopped_ ? std::string() : release(true); }

std::string TextStream::release(bool last) {
  std::string text = tokenizer_.decode(ids_);
  // A stop string that first appears now starts after what was handed out
  // (at most hold_ bytes before the old end were held back).
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) cut = std::min(cut, text.find(s, out_.size() > hold_ ? out_.size() - hold_ : 0));
  if (cut != std::string::npos) {
    text.resize(std::max(cut, out_.size()));
    stopped_ = true;
    last = true;
  }
  const size_t upto =
      last ? text.size() : complete_utf8(text.substr(0, text.size() > hold_ ? text.size() - hold_ : 0));
  if (upto <= out_.size()) return {};
  std::string piece = valid_utf8(text.substr(out_.size(), upto - out_.size()));
  out_.append(text, out_.size(), upto - out_.size());
  shown_ += piece;
  return piece;
}

}  // namespace lockstep::harness

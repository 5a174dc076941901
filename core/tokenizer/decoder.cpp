#include "core/tokenizer/decoder.h"

#include <optional>
#include <utility>

#include "core/tokenizer/byte_level.h"

namespace lockstep {
namespace {

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// "<0x0A>" -> 0x0A, as Hugging Face's ByteFallback reads it.
std::optional<char> fallback_byte(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
  int value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = token[i];
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (digit < 0) return std::nullopt;
    value = value * 16 + digit;
  }
  return static_cast<char>(value);
}

std::string byte_level_text(const std::string& token) {
  std::optional<std::string> bytes = byte_level::decode(token);
  return bytes ? std::move(*bytes) : token;   // not in the alphabet: as written
}

std::string metaspace_text(const std::string& token, const std::string& replacement, bool first,
                           PrependScheme scheme) {
  std::string out = token;
  // On the first token Hugging Face drops every replacement, not only a leading one.
  replace_all(out, replacement, first && scheme != PrependScheme::never ? "" : " ");
  return out;
}

// Strip counts characters equal to `content` (one code point).
std::string strip(const std::string& token, const std::string& content, size_t start, size_t stop) {
  size_t begin = 0;
  for (size_t i = 0; i < start && token.compare(begin, content.size(), content) == 0; ++i) {
    begin += content.size();
  }
  size_t end = token.size();
  for (size_t i = 0; i < stop && end >= begin + content.size() &&
                     token.compare(end - content.size(), content.size(), content) == 0;
       ++i) {
    end -= content.size();
  }
  return token.substr(begin, end - begin);
}

void apply(const DecoderStep& step, std::vector<std::string>& tokens) {
  switch (step.kind) {
    case DecoderStep::Kind::byte_level: {
      std::string joined;
      for (const std::string& t : tokens) joined += byte_level_text(t);
      tokens = {std::move(joined)};
      return;
    }
    case DecoderStep::Kind::replace:
      for (std::string& t : tokens) replace_all(t, step.pattern, step.content);
      return;
    case DecoderStep::Kind::byte_fallback: {
      // Runs of <0xXX> tokens become their bytes (kept raw even when they are not UTF-8).
      std::vector<std::string> out;
      std::string bytes;
      bool in_run = false;
      for (std::string& t : tokens) {
        if (const std::optional<char> b = fallback_byte(t)) {
          bytes.push_back(*b);
          in_run = true;
          continue;
        }
        if (in_run) out.push_back(std::move(bytes));
        bytes.clear();
        in_run = false;
        out.push_back(std::move(t));
      }
      if (in_run) out.push_back(std::move(bytes));
      tokens = std::move(out);
      return;
    }
    case DecoderStep::Kind::fuse: {
      std::string joined;
      for (const std::string& t : tokens) joined += t;
      tokens = {std::move(joined)};
      return;
    }
    case DecoderStep::Kind::strip:
      for (std::string& t : tokens) t = strip(t, step.content, step.start, step.stop);
      return;
    case DecoderStep::Kind::metaspace:
      for (size_t i = 0; i < tokens.size(); ++i) {
        tokens[i] = metaspace_text(tokens[i], step.pattern, i == 0, step.prepend_scheme);
      }
      return;
  }
}

}  // namespace

Decoder::Decoder(std::vector<DecoderStep> steps) : steps_(std::move(steps)) {}

std::string Decoder::decode(std::vector<std::string> tokens) const {
  for (const DecoderStep& step : steps_) apply(step, tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

std::string Decoder::piece(const std::string& token) const {
  std::string out = token;
  for (const DecoderStep& step : steps_) {
    switch (step.kind) {
      case DecoderStep::Kind::byte_level: out = byte_level_text(out); break;
      case DecoderStep::Kind::replace: replace_all(out, step.pattern, step.content); break;
      case DecoderStep::Kind::byte_fallback:
        if (const std::optional<char> b = fallback_byte(out)) out = std::string(1, *b);
        break;
      case DecoderStep::Kind::metaspace:
        out = metaspace_text(out, step.pattern, false, step.prepend_scheme);
        break;
      case DecoderStep::Kind::fuse:
      case DecoderStep::Kind::strip:
        break;
    }
  }
  return out;
}

bool Decoder::is_byte_level_only() const {
  return steps_.size() == 1 && steps_[0].kind == DecoderStep::Kind::byte_level;
}

}  // namespace lockstep

#include "core/tokenizer/chat_template.h"

#include <optional>
#include <utility>

#include "core/error.h"

namespace lockstep {
namespace {

constexpr const char* kImStart = "<|im_start|>";
constexpr const char* kImEnd = "<|im_end|>";

// Jinja string literals use Python escapes; templates stored in GGUF carry
// either real newlines or "\n" escapes inside them.
std::string unescape_jinja(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out.push_back(text[i]);
      continue;
    }
    const char c = text[++i];
    switch (c) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case '\\': case '\'': case '"': out.push_back(c); break;
      default: out.push_back('\\'); out.push_back(c); break;
    }
  }
  return out;
}

// The default system prompt is the one system block whose body is a single
// string literal, e.g. '<|im_start|>system\nYou are ...<|im_end|>\n'. A body
// that leaves the literal (' + messages[0]['content'] + ') is the block for a
// caller-supplied system message, not a default.
std::optional<std::string> find_default_system(const std::string& source) {
  const std::string marker = std::string(kImStart) + "system";
  for (size_t at = source.find(marker); at != std::string::npos;
       at = source.find(marker, at + 1)) {
    if (at == 0 || (source[at - 1] != '\'' && source[at - 1] != '"')) continue;
    const char quote = source[at - 1];
    size_t body = at + marker.size();
    if (source.compare(body, 1, "\n") == 0) {
      body += 1;
    } else if (source.compare(body, 2, "\\n") == 0) {
      body += 2;
    } else {
      continue;
    }
    const size_t end = source.find(kImEnd, body);
    if (end == std::string::npos) continue;
    const std::string raw = source.substr(body, end - body);
    bool literal = !raw.empty();
    for (size_t i = 0; i < raw.size() && literal; ++i) {
      if (raw[i] == '\\') {
        ++i;   // an escaped quote stays inside the literal
      } else if (raw[i] == quote) {
        literal = false;
      }
    }
    if (literal) return unescape_jinja(raw);
  }
  return std::nullopt;
}

void append_block(std::string& out, const std::string& role, const std::string& content) {
  out += kImStart;
  out += role;
  out += '\n';
  out += content;
  out += kImEnd;
  out += '\n';
}

}  // namespace

ChatTemplate ChatTemplate::from_source(const std::string& source) {
  if (source.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw bad_input("model has no chat template; use --raw");
  }
  if (source.find(kImStart) == std::string::npos) {
    throw bad_input(
        "unsupported chat template: lockstep renders only the ChatML family (templates using "
        "<|im_start|> / <|im_end|>, e.g. SmolLM2, Qwen2, Qwen2.5); use --raw");
  }
  ChatTemplate t;
  t.family_ = "chatml";
  if (std::optional<std::string> found = find_default_system(source)) {
    t.default_system_ = std::move(*found);
  }
  return t;
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt) const {
  if (messages.empty()) throw bad_input("cannot render a chat with no messages");
  for (const ChatMessage& m : messages) {
    // Templates treat other roles (tool, ipython) each their own way; refuse
    // rather than render something the model never saw.
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      throw bad_input("chat role \"" + m.role + "\" is not supported by the built-in " + family_ +
                      " template (use system, user or assistant)");
    }
  }
  std::string out;
  if (!default_system_.empty() && messages[0].role != "system") {
    append_block(out, "system", default_system_);
  }
  for (const ChatMessage& m : messages) append_block(out, m.role, m.content);
  if (add_generation_prompt) {
    out += kImStart;
    out += "assistant\n";
  }
  return out;
}

}  // namespace lockstep

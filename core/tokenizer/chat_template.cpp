#include "core/tokenizer/chat_template.h"

#include <optional>
#include <utility>

#include "core/error.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/tokenizer.h"

namespace lockstep {
namespace {

constexpr const char* kImStart = "<|im_start|>";
constexpr const char* kImEnd = "<|im_end|>";

bool contains(const std::string& text, const char* needle) {
  return text.find(needle) != std::string::npos;
}

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

// Llama-3.1's fallback: {%- set date_string = "26 Jul 2024" %}.
std::string find_fallback_date(const std::string& source) {
  const std::string marker = "date_string = ";
  for (size_t at = source.find(marker); at != std::string::npos;
       at = source.find(marker, at + 1)) {
    const size_t open = at + marker.size();
    if (open >= source.size() || (source[open] != '"' && source[open] != '\'')) continue;
    const size_t close = source.find(source[open], open + 1);
    if (close != std::string::npos) return source.substr(open + 1, close - open - 1);
  }
  return "26 Jul 2024";
}

// Python's str.isspace, which Jinja's trim and str.strip() use.
bool python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string trim(const std::string& text) {
  size_t begin = 0;
  uint32_t cp = 0;
  for (size_t pos = 0; utf8::next(text, pos, cp) && python_space(cp);) begin = pos;
  size_t end = begin;
  for (size_t pos = begin; pos < text.size();) {
    if (!utf8::next(text, pos, cp)) {
      ++pos;   // a malformed byte is not space
      end = pos;
    } else if (!python_space(cp)) {
      end = pos;
    }
  }
  return text.substr(begin, end - begin);
}

std::string lstrip_newlines(const std::string& s) {
  const size_t b = s.find_first_not_of('\n');
  return b == std::string::npos ? "" : s.substr(b);
}
std::string rstrip_newlines(const std::string& s) {
  const size_t e = s.find_last_not_of('\n');
  return e == std::string::npos ? "" : s.substr(0, e + 1);
}

void chatml_block(std::string& out, const std::string& role, const std::string& content) {
  out += kImStart;
  out += role;
  out += '\n';
  out += content;
  out += kImEnd;
  out += '\n';
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Qwen2.5 / Qwen3: a run of tool messages is one user turn of <tool_response> blocks.
void qwen_tool_block(std::string& out, const std::vector<ChatMessage>& m, size_t i) {
  if (i == 0 || m[i - 1].role != "tool") out += std::string(kImStart) + "user";
  out += "\n<tool_response>\n" + m[i].content + "\n</tool_response>";
  if (i + 1 == m.size() || m[i + 1].role != "tool") out += std::string(kImEnd) + "\n";
}

std::string render_qwen3(const std::vector<ChatMessage>& m, bool generation_prompt) {
  std::string out;
  if (m[0].role == "system") chatml_block(out, "system", m[0].content);
  // The last user turn that is not a tool response.
  size_t last_query = m.size() - 1;
  for (size_t i = m.size(); i-- > 0;) {
    const std::string& c = m[i].content;
    if (m[i].role == "user" && !(starts_with(c, "<tool_response>") && ends_with(c, "</tool_response>"))) {
      last_query = i;
      break;
    }
  }
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i].role == "user" || (m[i].role == "system" && i > 0)) {
      chatml_block(out, m[i].role, m[i].content);
    } else if (m[i].role == "tool") {
      qwen_tool_block(out, m, i);
    } else if (m[i].role == "assistant") {
      std::string content = m[i].content;
      std::string reasoning;
      const size_t first_end = content.find("</think>");
      if (first_end != std::string::npos) {
        const std::string before = rstrip_newlines(content.substr(0, first_end));
        const size_t open = before.rfind("<think>");
        reasoning = lstrip_newlines(open == std::string::npos ? before : before.substr(open + 7));
        content = lstrip_newlines(content.substr(content.rfind("</think>") + 8));
      }
      out += std::string(kImStart) + "assistant\n";
      if (i + 1 > last_query + 1 && (i + 1 == m.size() || !reasoning.empty())) {
        out += "<think>\n" + rstrip_newlines(lstrip_newlines(reasoning)) + "\n</think>\n\n" +
               lstrip_newlines(content);
      } else {
        out += content;
      }
      out += std::string(kImEnd) + "\n";
    }
  }
  if (generation_prompt) out += std::string(kImStart) + "assistant\n";
  return out;
}

void llama3_block(std::string& out, const std::string& role, const std::string& content) {
  out += "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + trim(content) + "<|eot_id|>";
}

[[noreturn]] void template_exception(const std::string& family, const std::string& message) {
  throw bad_input("the " + family + " chat template refuses this conversation: " + message);
}

void check_alternation(const std::string& family, const std::vector<ChatMessage>& loop,
                       const char* message) {
  for (size_t i = 0; i < loop.size(); ++i) {
    if ((loop[i].role == "user") != (i % 2 == 0)) template_exception(family, message);
  }
}

}  // namespace

ChatTemplate ChatTemplate::from_source(const std::string& source, const std::string& bos_token,
                                       const std::string& eos_token) {
  if (source.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw bad_input("model has no chat template; use --raw");
  }
  ChatTemplate t;
  t.bos_ = bos_token;
  t.eos_ = eos_token;
  bool needs_bos = true;
  bool needs_eos = false;
  if (contains(source, kImStart)) {
    needs_bos = false;
    if (contains(source, "</think>") || contains(source, "enable_thinking")) {
      t.family_ = "qwen3";
    } else {
      t.family_ = "chatml";
      t.qwen_tools_ = contains(source, "<tool_response>");
      if (std::optional<std::string> found = find_default_system(source)) {
        t.default_system_ = std::move(*found);
      }
    }
  } else if (contains(source, "<|start_header_id|>")) {
    t.family_ = contains(source, "Cutting Knowledge Date") ? "llama3.1" : "llama3";
    if (t.family_ == "llama3.1") t.date_ = find_fallback_date(source);
  } else if (contains(source, "[INST]") && contains(source, "<<SYS>>")) {
    t.family_ = "llama2";
    needs_eos = true;
  } else if (contains(source, "[INST]")) {
    t.family_ = contains(source, "system_message") ? "mistral-system" : "mistral";
    t.space_after_eos_ = contains(source, "eos_token + ' '");
    needs_eos = true;
  } else if (contains(source, "<|user|>") && contains(source, "<|assistant|>")) {
    t.family_ = "zephyr";
    needs_bos = false;
    needs_eos = true;
  } else {
    throw bad_input(
        "unsupported chat template: lockstep renders the ChatML (SmolLM2, Qwen2, Qwen2.5, Qwen3), "
        "Llama-3, Llama-2, Mistral and Zephyr/TinyLlama families; use --raw");
  }
  if (needs_bos && t.bos_.empty()) {
    throw bad_input("the " + t.family_ + " chat template needs the tokenizer's BOS token text");
  }
  if (needs_eos && t.eos_.empty()) {
    throw bad_input("the " + t.family_ + " chat template needs the tokenizer's EOS token text");
  }
  return t;
}

ChatTemplate ChatTemplate::for_tokenizer(const Tokenizer& tokenizer) {
  const auto text = [&](int32_t id) { return id >= 0 ? tokenizer.decode_token(id) : std::string(); };
  return from_source(tokenizer.chat_template(), text(tokenizer.bos_id()), text(tokenizer.eos_id()));
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt) const {
  if (messages.empty()) throw bad_input("cannot render a chat with no messages");
  for (const ChatMessage& m : messages) {
    // Templates treat other roles (tool, ipython) each their own way; refuse
    // rather than render something the model never saw.
    if (m.role == "tool" && supports_tool_role()) continue;
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      throw bad_input("chat role \"" + m.role + "\" is not supported by the built-in " + family_ +
                      " template (use system, user or assistant" + (supports_tool_role() ? ", or tool" : "") + ")");
    }
  }
  const bool has_system = messages[0].role == "system";
  const std::vector<ChatMessage> rest(messages.begin() + (has_system ? 1 : 0), messages.end());
  std::string out;
  if (family_ == "qwen3") return render_qwen3(messages, add_generation_prompt);
  if (family_ == "chatml") {
    if (!default_system_.empty() && !has_system) chatml_block(out, "system", default_system_);
    for (size_t i = 0; i < messages.size(); ++i) {
      if (messages[i].role == "tool" && qwen_tools_) {
        qwen_tool_block(out, messages, i);
      } else {
        chatml_block(out, messages[i].role, messages[i].content);
      }
    }
    if (add_generation_prompt) out += std::string(kImStart) + "assistant\n";
  } else if (family_ == "llama3" || family_ == "llama3.1") {
    out += bos_;
    const std::vector<ChatMessage>* turns = &messages;
    if (family_ == "llama3.1") {
      out += "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
             "Today Date: " + date_ + "\n\n" + (has_system ? trim(messages[0].content) : "") +
             "<|eot_id|>";
      turns = &rest;
    }
    for (const ChatMessage& m : *turns) llama3_block(out, m.role, m.content);
    if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  } else if (family_ == "llama2") {
    check_alternation(family_, rest,
                      "Conversation roles must alternate user/assistant/user/assistant/...");
    for (size_t i = 0; i < rest.size(); ++i) {
      std::string content = rest[i].content;
      if (i == 0 && has_system) {
        content = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n" + content;
      }
      if (rest[i].role == "user") {
        out += bos_ + "[INST] " + trim(content) + " [/INST]";
      } else if (rest[i].role == "assistant") {
        out += " " + trim(content) + " " + eos_;
      }
    }
  } else if (family_ == "mistral") {
    out += bos_;
    check_alternation(family_, messages,
                      "Conversation roles must alternate user/assistant/user/assistant/...");
    for (const ChatMessage& m : messages) {
      if (m.role == "user") {
        out += "[INST] " + m.content + " [/INST]";
      } else if (m.role == "assistant") {
        out += m.content + eos_ + (space_after_eos_ ? " " : "");
      } else {
        template_exception(family_, "Only user and assistant roles are supported!");
      }
    }
  } else if (family_ == "mistral-system") {
    out += bos_;
    check_alternation(family_, rest,
                      "After the optional system message, conversation roles must alternate "
                      "user/assistant/user/assistant/...");
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest[i].role == "user") {
        const bool with_system = has_system && i + 1 == rest.size();
        out += "[INST] " + (with_system ? messages[0].content + "\n\n" : "") + rest[i].content +
               "[/INST]";
      } else if (rest[i].role == "assistant") {
        out += " " + rest[i].content + eos_;
      } else {
        template_exception(family_, "Only user and assistant roles are supported, with the "
                                    "exception of an initial optional system message!");
      }
    }
  } else if (family_ == "zephyr") {
    for (const ChatMessage& m : messages) out += "<|" + m.role + "|>\n" + m.content + eos_ + "\n";
    if (add_generation_prompt) out += "<|assistant|>\n";
  }
  return out;
}

}  // namespace lockstep

// Chat templates. lockstep does not embed a Jinja engine: it recognises the
// template families of the models it supports from the template source
// (tokenizer_config.json / chat_template.jinja, or GGUF
// tokenizer.chat_template) and renders them with built-in code that gives
// the same text as transformers' apply_chat_template.
//
// Built-in families, tried in this order on the template source:
// - "qwen3":    ChatML markers <|im_start|> and "</think>" or "enable_thinking"
//               (Qwen3): no default system prompt; <think> blocks of
//               assistant turns after the last user turn are kept, earlier
//               ones dropped; the generation prompt is "<|im_start|>assistant\n"
//               (enable_thinking left at its default).
// - "chatml":   <|im_start|> (SmolLM2, Qwen2, Qwen2.5): the default system
//               prompt, if any, is read from the template source itself.
// - "llama3":   <|start_header_id|> (Llama-3): BOS, then one header block per
//               message, content trimmed.
// - "llama3.1": <|start_header_id|> and "Cutting Knowledge Date" (Llama-3.1,
//               Llama-3.2): a system block with the knowledge and "Today Date"
//               lines always comes first. The date is the template's fallback
//               date_string ("26 Jul 2024"); Llama-3.2's template would put
//               today's date there (strftime_now), which is not deterministic.
// - "llama2":   [INST] and <<SYS>> (Llama-2-chat): the system prompt goes
//               into the first user turn; roles must alternate.
// - "mistral":  [INST] without <<SYS>> (Mistral-Instruct v0.1/v0.2): no
//               system role; roles must alternate; v0.1 puts a space after
//               each EOS.
// - "mistral-system": [INST] with the system prompt prepended to the last user
//               turn (Mistral-Instruct v0.3 style, "[/INST]" without a space).
// - "zephyr":   <|user|> and <|assistant|> (Zephyr, TinyLlama-Chat).
// Tool results (role "tool") are rendered by the ChatML families only: as
// their own <|im_start|>tool block by templates that render every role alike
// (SmolLM2, Qwen2), and Qwen's way by templates that know <tool_response>
// (Qwen2.5, Qwen3): consecutive tool messages share one user block, each
// wrapped in "\n<tool_response>\n...\n</tool_response>". A tool call is an
// assistant message whose content holds it (harness/session.h writes Qwen's
// "<tool_call>\n{...}\n</tool_call>" form).
// GPT-2 and base models have no template. An empty or unrecognised template
// is a bad_input error from from_source; callers that only sometimes format
// chats keep the error for when formatting is asked for.
#pragma once

#include <string>
#include <vector>

namespace lockstep {

class Tokenizer;

struct ChatMessage {
  std::string role;
  std::string content;
};

class ChatTemplate {
 public:
  // `source` is the Jinja text of the template; `bos_token` / `eos_token`
  // are the texts the template's bos_token / eos_token variables hold.
  static ChatTemplate from_source(const std::string& source, const std::string& bos_token = "",
                                  const std::string& eos_token = "");
  // The tokenizer's own template, with its BOS and EOS texts.
  static ChatTemplate for_tokenizer(const Tokenizer& tokenizer);

  // bad_input for an empty conversation (transformers refuses one too), for
  // roles other than system, user and assistant (and tool, where
  // supports_tool_role()), and where the family's
  // template raises an exception (roles that do not alternate).
  std::string render(const std::vector<ChatMessage>& messages,
                     bool add_generation_prompt) const;
  const std::string& family() const { return family_; }
  bool supports_tool_role() const { return family_ == "chatml" || family_ == "qwen3"; }
  const std::string& default_system() const { return default_system_; }

 private:
  std::string family_;
  std::string default_system_;   // empty: no system message is injected
  std::string bos_;
  std::string eos_;
  std::string date_;             // llama3.1: the "Today Date" line
  bool space_after_eos_ = false; // mistral v0.1
  bool qwen_tools_ = false;      // chatml: the template wraps tool messages in <tool_response>
};

}  // namespace lockstep

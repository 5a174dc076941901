// Chat templates. lockstep does not embed a Jinja engine: it recognises the
// template families of the models it supports from the template source and
// renders them with built-in code. ChatML (SmolLM2, Qwen) is recognised by
// its <|im_start|> markers; the default system prompt is read from the
// template source itself. An unrecognised template is a bad_input error.
#pragma once

#include <string>
#include <vector>

namespace lockstep {

struct ChatMessage {
  std::string role;
  std::string content;
};

class ChatTemplate {
 public:
  // `source` is the Jinja text of tokenizer.chat_template.
  static ChatTemplate from_source(const std::string& source);

  // bad_input for an empty conversation (transformers refuses one too) and
  // for roles other than system, user and assistant.
  std::string render(const std::vector<ChatMessage>& messages,
                     bool add_generation_prompt) const;
  const std::string& family() const { return family_; }
  const std::string& default_system() const { return default_system_; }

 private:
  std::string family_;
  std::string default_system_;   // empty: no system message is injected
};

}  // namespace lockstep

// Everything loaded from one model file: the model, its tokenizer and chat
// template, and its identity (SHA-256 of the file).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/models/llama.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"

namespace lockstep {

struct ModelBundle {
  std::string path;
  std::string architecture;
  std::string name;            // general.name
  LlamaModel model;
  Tokenizer tokenizer;
  // Empty when the file has no usable chat template; then only raw
  // prompts work and chat_template_error says why.
  std::optional<ChatTemplate> chat_template;
  std::string chat_template_error;

  // bad_input for a malformed or unsupported file; environment_error if
  // the file cannot be opened.
  static std::shared_ptr<const ModelBundle> load(const std::string& gguf_path);

  // Chat-formatted prompt ids for one user message (with the template's
  // generation prompt), or the raw text's ids (BOS first if the tokenizer
  // asks for it) when `raw` is set. bad_input if chat formatting is asked
  // for and the model has no supported template.
  std::vector<int32_t> prompt_ids(const std::string& user_text, bool raw = false) const;
};

}  // namespace lockstep

// Everything loaded from one model file: the model, its tokenizer and chat
// template, and its identity (SHA-256 of the file).
#pragma once

#include <memory>
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
  ChatTemplate chat_template;

  // bad_input for a malformed or unsupported file; environment_error if
  // the file cannot be opened.
  static std::shared_ptr<const ModelBundle> load(const std::string& gguf_path);

  // Chat-formatted prompt ids for one user message (with the template's
  // generation prompt), or the raw text's ids when `raw` is set.
  std::vector<int32_t> prompt_ids(const std::string& user_text, bool raw = false) const;
};

}  // namespace lockstep

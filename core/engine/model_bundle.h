// Everything loaded from one model: the model, its tokenizer and chat
// template, and its identity. A model is either a GGUF file (weights,
// tokenizer and template in one file) or a Hugging Face model folder
// (config.json, model.safetensors or shards with their index, tokenizer.json,
// tokenizer_config.json).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/models/decoder.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"

namespace lockstep {

struct ModelBundle {
  std::string path;
  std::string architecture;    // GGUF general.architecture or HF model_type
  std::string name;            // general.name, or the folder's name
  DecoderModel model;
  Tokenizer tokenizer;
  // Empty when the model has no usable chat template; then only raw
  // prompts work and chat_template_error says why.
  std::optional<ChatTemplate> chat_template;
  std::string chat_template_error;

  // bad_input for a malformed or unsupported model; environment_error if
  // nothing can be opened at `path`.
  static std::shared_ptr<const ModelBundle> load(const std::string& path, const LoadOptions& options = {});

  // Token ids that end a generation: the tokenizer's EOS and the config's
  // eos_token_id list (Llama-3 Instruct ends turns with <|eot_id|>).
  std::vector<int32_t> eos_ids() const;

  // Chat-formatted prompt ids for one user message (with the template's
  // generation prompt), or the raw text's ids (BOS first if the tokenizer
  // asks for it) when `raw` is set. bad_input if chat formatting is asked
  // for and the model has no supported template.
  std::vector<int32_t> prompt_ids(const std::string& user_text, bool raw = false) const;
};

// SHA-256 that identifies a model: of the file for GGUF; for a folder, of
// the list "<sha256>  <name>\n" of its weight, config and tokenizer files in
// name order (sha256sum's format, so it can be checked by hand).
std::string model_sha256(const std::string& path);

}  // namespace lockstep

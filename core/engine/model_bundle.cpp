#include "core/engine/model_bundle.h"

#include "core/error.h"
#include "core/weights/gguf.h"

namespace lockstep {

std::shared_ptr<const ModelBundle> ModelBundle::load(const std::string& gguf_path) {
  const gguf::File file = gguf::File::open(gguf_path);
  auto bundle = std::shared_ptr<ModelBundle>(new ModelBundle{
      gguf_path, file.get_string("general.architecture"), file.get_string("general.name", ""),
      LlamaModel::from_gguf(file), Tokenizer::from_gguf(file), std::nullopt, ""});
  // A model without a (supported) chat template still runs raw prompts.
  try {
    bundle->chat_template = ChatTemplate::from_source(file.get_string("tokenizer.chat_template", ""));
  } catch (const Error& e) {
    bundle->chat_template_error = e.what();
  }
  return bundle;
}

std::vector<int32_t> ModelBundle::prompt_ids(const std::string& user_text, bool raw) const {
  if (raw) {
    std::vector<int32_t> ids;
    if (tokenizer.add_bos()) ids.push_back(tokenizer.bos_id());
    const std::vector<int32_t> text = tokenizer.encode(user_text, /*parse_special=*/false);
    ids.insert(ids.end(), text.begin(), text.end());
    return ids;
  }
  if (!chat_template) {
    throw bad_input(path + ": cannot format a chat prompt (" + chat_template_error + "); use --raw");
  }
  const std::string rendered = chat_template->render({{"user", user_text}}, /*add_generation_prompt=*/true);
  return tokenizer.encode(rendered, /*parse_special=*/true);
}

}  // namespace lockstep

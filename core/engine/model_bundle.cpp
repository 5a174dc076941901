#include "core/engine/model_bundle.h"

#include "core/weights/gguf.h"

namespace lockstep {

std::shared_ptr<const ModelBundle> ModelBundle::load(const std::string& gguf_path) {
  const gguf::File file = gguf::File::open(gguf_path);
  auto bundle = std::shared_ptr<ModelBundle>(new ModelBundle{
      gguf_path, file.get_string("general.architecture"), file.get_string("general.name", ""),
      LlamaModel::from_gguf(file), Tokenizer::from_gguf(file),
      ChatTemplate::from_source(file.get_string("tokenizer.chat_template", ""))});
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
  const std::string rendered = chat_template.render({{"user", user_text}}, /*add_generation_prompt=*/true);
  return tokenizer.encode(rendered, /*parse_special=*/true);
}

}  // namespace lockstep

#include "core/engine/model_bundle.h"

#include <dirent.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/models/gguf_source.h"
#include "core/models/hf_config.h"
#include "core/util/path_kind.h"
#include "core/util/sha256.h"
#include "core/weights/gguf.h"
#include "core/weights/safetensors_source.h"

namespace lockstep {
namespace {

std::string base_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The bundle's checks and chat template, whatever the format: every id the
// tokenizer can produce must have an embedding row; a tokenizer without a
// usable chat template still loads (raw prompts work), its error kept.
std::shared_ptr<ModelBundle> finish(std::shared_ptr<ModelBundle> bundle, int64_t embeddings) {
  if (bundle->tokenizer.vocab_size() > embeddings) {
    throw bad_input(bundle->path + ": the tokenizer has " + std::to_string(bundle->tokenizer.vocab_size()) +
                    " tokens but the model only " + std::to_string(embeddings) + " embeddings");
  }
  try {
    bundle->chat_template = ChatTemplate::for_tokenizer(bundle->tokenizer);
  } catch (const Error& e) {
    bundle->chat_template_error = e.what();
  }
  return bundle;
}

std::shared_ptr<ModelBundle> load_gguf(const std::string& path, const LoadOptions& options) {
  const gguf::File file = gguf::File::open(path);
  const ModelConfig config = gguf_model_config(file);
  auto bundle = std::shared_ptr<ModelBundle>(new ModelBundle{
      path, file.get_string("general.architecture"), file.get_string("general.name", ""),
      DecoderModel::load(config, GgufSource(file, config), options), Tokenizer::from_gguf(file), std::nullopt, ""});
  return finish(std::move(bundle), config.vocab);
}

std::shared_ptr<ModelBundle> load_hf(const std::string& folder, const LoadOptions& options) {
  ModelConfig config = read_hf_config(folder);
  const std::unique_ptr<TensorSource> weights = open_safetensors(folder);
  auto bundle = std::shared_ptr<ModelBundle>(new ModelBundle{folder, config.model_type, base_name(folder),
                                                             DecoderModel::load(config, *weights, options),
                                                             Tokenizer::from_hf(folder), std::nullopt, ""});
  return finish(std::move(bundle), config.vocab);
}

}  // namespace

std::shared_ptr<const ModelBundle> ModelBundle::load(const std::string& path, const LoadOptions& options) {
  if (path_kind(path) == PathKind::directory) return load_hf(path, options);
  if (ends_with(path, ".safetensors") || ends_with(path, ".json")) {
    throw bad_input(path + ": give the model folder (with config.json and tokenizer.json), not one of its files");
  }
  return load_gguf(path, options);
}

std::vector<int32_t> ModelBundle::eos_ids() const {
  std::vector<int32_t> ids;
  if (tokenizer.eos_id() >= 0) ids.push_back(tokenizer.eos_id());
  for (int32_t id : model.config().eos_ids) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
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

std::string model_sha256(const std::string& path) {
  if (path_kind(path) != PathKind::directory) return sha256_file(path);
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) throw environment_error(path + ": cannot list the model folder");
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (ends_with(name, ".safetensors") || ends_with(name, ".json") || ends_with(name, ".jinja") ||
        ends_with(name, ".model")) {
      names.push_back(name);
    }
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  std::string listing;
  for (const std::string& name : names) listing += sha256_file(path + "/" + name) + "  " + name + "\n";
  return sha256_hex(listing);
}

}  // namespace lockstep

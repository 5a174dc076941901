// Tokenizer::from_hf: a Hugging Face tokenizer.json (+ tokenizer_config.json,
// chat_template.jinja) into the stages of tokenizer_impl.h.
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/tokenizer/hf_components.h"
#include "core/tokenizer/json_at.h"
#include "core/tokenizer/tokenizer_impl.h"

namespace lockstep {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int32_t id_of(const JsonAt& value) {
  const int64_t id = value.integer();
  if (id < 0 || id >= INT32_MAX) value.fail("token id " + std::to_string(id) + " is out of range");
  return static_cast<int32_t>(id);
}

// What tokenizer_config.json adds; every member optional.
struct Config {
  std::optional<bool> add_bos;
  std::optional<bool> add_eos;
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::string chat_template;
};

// bos_token and friends: "<s>", {"content": "<s>", ...} or null.
std::optional<std::string> token_text(const JsonAt& config, const char* key) {
  const std::optional<JsonAt> value = config.find(key);
  if (!value) return std::nullopt;
  if (value->is_string()) return value->str();
  if (value->is_object()) return (*value)["content"].str();
  value->fail("expected a string or an object with \"content\"");
}

Config read_config(const fs::path& folder) {
  Config config;
  const fs::path path = folder / "tokenizer_config.json";
  if (std::optional<std::string> text = read_file(path)) {
    const std::string file = path.string();
    const nlohmann::json doc = parse_json(*text, file);
    const JsonAt root(doc, file, "");
    (void)root.object();
    if (std::optional<JsonAt> v = root.find("add_bos_token")) config.add_bos = v->boolean();
    if (std::optional<JsonAt> v = root.find("add_eos_token")) config.add_eos = v->boolean();
    config.bos_token = token_text(root, "bos_token");
    config.eos_token = token_text(root, "eos_token");
    if (std::optional<JsonAt> t = root.find("chat_template")) {
      if (t->is_string()) {
        config.chat_template = t->str();
      } else {
        // A list of named templates: transformers uses "default".
        for (size_t i = 0; i < t->array_size(); ++i) {
          const JsonAt entry = t->at(i);
          if (entry["name"].str() == "default") config.chat_template = entry["template"].str();
        }
      }
    }
  }
  // transformers 5 saves the template beside the config; it takes precedence.
  if (std::optional<std::string> jinja = read_file(folder / "chat_template.jinja")) {
    config.chat_template = std::move(*jinja);
  }
  return config;
}

BpeOptions model_options(const JsonAt& model, bool byte_level) {
  const std::string type = model.str_or("type", "BPE");
  if (type != "BPE") {
    model["type"].fail("\"" + type +
                       "\" is not supported; lockstep runs BPE tokenizers only (byte-level or "
                       "SentencePiece-style)");
  }
  if (std::optional<JsonAt> dropout = model.find("dropout")) {
    if (!dropout->json().is_number() || dropout->json().get<double>() != 0.0) {
      dropout->fail("BPE dropout is not supported (it makes tokenization random)");
    }
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (!model.str_or(key, "").empty()) model[key].fail("is not supported");
  }
  BpeOptions options;
  options.byte_level = byte_level;
  options.byte_fallback = model.bool_or("byte_fallback", false);
  options.fuse_unk = model.bool_or("fuse_unk", false);
  options.ignore_merges = model.bool_or("ignore_merges", false);
  return options;
}

// "a b" (older files) or ["a", "b"].
std::pair<std::string, std::string> merge_of(const JsonAt& merge) {
  if (merge.is_string()) {
    const std::string& text = merge.str();
    const size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
      merge.fail("expected two tokens separated by one space, got \"" + text + "\"");
    }
    return {text.substr(0, space), text.substr(space + 1)};
  }
  if (!merge.is_array() || merge.array_size() != 2) {
    merge.fail("expected a string \"a b\" or an array of two strings");
  }
  return {merge.at(0).str(), merge.at(1).str()};
}

TokenType type_of_token(const std::string& token, int32_t id, const BpeOptions& options) {
  if (id == options.unk_id) return TokenType::unknown;
  if (options.byte_fallback && token.size() == 6 && token.compare(0, 3, "<0x") == 0 &&
      token[5] == '>') {
    return TokenType::byte;
  }
  return TokenType::normal;
}

}  // namespace

Tokenizer Tokenizer::from_hf(const std::string& path) {
  fs::path json_path(path);
  if (fs::is_directory(json_path)) json_path /= "tokenizer.json";
  const std::string file = json_path.string();
  const std::optional<std::string> text = read_file(json_path);
  if (!text) throw environment_error(file + ": cannot read the file");
  const fs::path folder = json_path.parent_path();
  return build_hf(*text, file, (folder.empty() ? fs::path(".") : folder).string());
}

Tokenizer Tokenizer::from_hf_json(const std::string& json_text, const std::string& origin) {
  return build_hf(json_text, origin, "");
}

Tokenizer Tokenizer::build_hf(const std::string& text, const std::string& file,
                              const std::string& config_folder) {
  const nlohmann::json doc = parse_json(text, file);
  const JsonAt root(doc, file, "");
  (void)root.object();

  // Stages first: whether the model is byte-level depends on the pre-tokenizer.
  std::vector<PreTokenizerStep> pre_steps;
  if (std::optional<JsonAt> p = root.find("pre_tokenizer")) pre_steps = hf::pre_tokenizer_steps(*p);
  const bool byte_level =
      !pre_steps.empty() && pre_steps.back().kind == PreTokenizerStep::Kind::byte_level;
  const std::string pre_name = hf::pre_tokenizer_name(pre_steps);
  auto impl = std::make_unique<Impl>(PreTokenizer::from_steps(pre_name, std::move(pre_steps)));
  if (std::optional<JsonAt> n = root.find("normalizer")) {
    impl->normalizer = Normalizer(hf::normalizer_steps(*n));
  }
  std::vector<DecoderStep> decoder_steps;
  if (std::optional<JsonAt> d = root.find("decoder")) decoder_steps = hf::decoder_steps(*d);
  impl->decoder = Decoder(decoder_steps);
  impl->decode_by_pieces = decoder_steps.empty() || impl->decoder.is_byte_level_only();

  // The model's vocabulary, then added tokens (which may reuse its ids).
  const JsonAt model = root["model"];
  BpeOptions options = model_options(model, byte_level);
  const JsonAt vocab_json = model["vocab"];
  std::unordered_map<std::string, int32_t> vocab;
  std::map<int32_t, std::string> by_id;
  for (const auto& [token, id_json] : vocab_json.object().items()) {
    const int32_t id = id_of(JsonAt(id_json, file, "model.vocab[\"" + token + "\"]"));
    if (!by_id.emplace(id, token).second) {
      vocab_json.fail("tokens \"" + by_id[id] + "\" and \"" + token + "\" share id " +
                      std::to_string(id));
    }
    vocab.emplace(token, id);
  }
  if (std::optional<JsonAt> unk = model.find("unk_token")) {
    const auto it = vocab.find(unk->str());
    if (it == vocab.end()) unk->fail("\"" + unk->str() + "\" is not in model.vocab");
    options.unk_id = it->second;
  }

  std::vector<AddedToken> raw_added;
  std::vector<AddedToken> normalized_added;
  std::map<int32_t, const AddedToken*> added_by_id;
  std::vector<AddedToken> all_added;
  if (std::optional<JsonAt> list = root.find("added_tokens")) {
    for (size_t i = 0; i < list->array_size(); ++i) {
      const JsonAt entry = list->at(i);
      AddedToken t;
      t.id = id_of(entry["id"]);
      t.content = entry["content"].str();
      if (t.content.empty()) entry["content"].fail("an added token must not be empty");
      t.special = entry.bool_or("special", false);
      t.single_word = entry.bool_or("single_word", false);
      t.lstrip = entry.bool_or("lstrip", false);
      t.rstrip = entry.bool_or("rstrip", false);
      t.normalized = entry.bool_or("normalized", !t.special);
      all_added.push_back(std::move(t));
    }
  }

  // Ids 0..n-1 must all name a token.
  int32_t n = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  for (const AddedToken& t : all_added) n = std::max(n, t.id + 1);
  if (n == 0) vocab_json.fail("the vocabulary is empty");
  // Ids 0..n-1 must all name a token: checked on the ids themselves before
  // tables of n entries are allocated (an id near 2^31 in a tiny file would
  // otherwise ask for gigabytes).
  std::set<int32_t> ids;
  for (const auto& [id, token] : by_id) ids.insert(id);
  for (const AddedToken& t : all_added) ids.insert(t.id);
  int32_t expected = 0;
  for (const int32_t id : ids) {
    if (id != expected) break;
    ++expected;
  }
  if (expected != n) {
    vocab_json.fail("no token has id " + std::to_string(expected) + " (ids must be 0.." +
                    std::to_string(n - 1) + " without gaps)");
  }
  impl->tokens.assign(n, std::string());
  impl->types.assign(n, TokenType::normal);
  for (const auto& [id, token] : by_id) {
    impl->tokens[id] = token;
    impl->types[id] = type_of_token(token, id, options);
  }
  for (const AddedToken& t : all_added) {
    impl->tokens[t.id] = t.content;
    impl->types[t.id] = t.special ? TokenType::control : TokenType::user_defined;
    added_by_id[t.id] = &t;
  }
  impl->by_text.reserve(n);
  impl->pieces.reserve(n);
  for (int32_t id = 0; id < n; ++id) {
    impl->by_text[impl->tokens[id]] = id;
    // Added tokens decode as written; the rest as the decoder reads them.
    impl->pieces.push_back(added_by_id.count(id) ? impl->tokens[id]
                                                 : impl->decoder.piece(impl->tokens[id]));
  }
  for (const AddedToken& t : all_added) {
    if (t.normalized) {
      AddedToken copy = t;
      // Hugging Face matches a normalized token by its normalized form.
      copy.content = impl->normalizer.apply(t.content);
      normalized_added.push_back(std::move(copy));
    } else {
      raw_added.push_back(t);
    }
  }
  impl->raw_added = AddedTokens(std::move(raw_added));
  impl->normalized_added = AddedTokens(std::move(normalized_added));

  impl->model = BpeModel(std::move(vocab), options);
  const JsonAt merges = model["merges"];
  for (size_t rank = 0; rank < merges.array_size(); ++rank) {
    const JsonAt merge = merges.at(rank);
    const auto [left, right] = merge_of(merge);
    const std::string missing = impl->model.add_merge(left, right, static_cast<int32_t>(rank));
    if (!missing.empty()) merge.fail("\"" + missing + "\" is not in model.vocab");
  }

  // BOS/EOS: the config names them; the post-processor says what encode adds.
  const fs::path folder(config_folder);
  const Config config = config_folder.empty() ? Config{} : read_config(folder);
  hf::PostProcessor post;
  if (std::optional<JsonAt> p = root.find("post_processor")) post = hf::post_processor(*p);
  for (const auto* side : {&post.before, &post.after}) {
    if (side->size() > 1) {
      root["post_processor"].fail("more than one special token on one side of the sequence is "
                                  "not supported");
    }
    for (const int32_t id : *side) {
      if (id >= n) root["post_processor"].fail("token id " + std::to_string(id) + " is out of range");
    }
  }
  const std::string config_file = (folder / "tokenizer_config.json").string();
  auto config_id = [&](const std::optional<std::string>& token, const char* key) {
    if (!token) return -1;
    const auto it = impl->by_text.find(*token);
    if (it == impl->by_text.end()) {
      throw bad_input(config_file + ": " + key + ": \"" + *token + "\" is not in the vocabulary");
    }
    return it->second;
  };
  impl->bos = config_id(config.bos_token, "bos_token");
  impl->eos = config_id(config.eos_token, "eos_token");
  if (!post.before.empty() && !config.add_bos) impl->bos = post.before[0];
  if (!post.after.empty() && !config.add_eos) impl->eos = post.after[0];
  impl->add_bos = config.add_bos.value_or(!post.before.empty());
  impl->add_eos = config.add_eos.value_or(!post.after.empty());
  if (impl->add_bos && impl->bos < 0) {
    throw bad_input(config_file + ": add_bos_token is true but no bos_token is given");
  }
  if (impl->add_eos && impl->eos < 0) {
    throw bad_input(config_file + ": add_eos_token is true but no eos_token is given");
  }
  impl->chat_template = config.chat_template;
  return Tokenizer(std::move(impl));
}

}  // namespace lockstep

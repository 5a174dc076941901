#include "core/tokenizer/tokenizer.h"

#include <climits>

#include "core/error.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/tokenizer_impl.h"
#include "core/weights/gguf.h"

namespace lockstep {
namespace {

// Hugging Face spells a vocabulary entry that is not already in the byte
// alphabet by its UTF-8 bytes, so merges name it that way too.
std::string spelled(const std::string& token) {
  return byte_level::is_spelled(token) ? token : byte_level::encode(token);
}

}  // namespace

void Tokenizer::Impl::encode_plain(std::string_view text, bool at_text_start, bool parse_special,
                                   std::vector<int32_t>& out) const {
  if (text.empty()) return;
  const std::string normalized = normalizer.apply(text);
  for (const AddedTokens::Piece& p : normalized_added.split(normalized, parse_special)) {
    if (p.id >= 0) {
      out.push_back(p.id);
      continue;
    }
    const std::string_view part = std::string_view(normalized).substr(p.begin, p.end - p.begin);
    for (const std::string& word : pre.split(part, at_text_start && p.begin == 0)) {
      model.encode(word, out);
    }
  }
}

void Tokenizer::Impl::check_id(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(tokens.size())) {
    throw bad_input("token id " + std::to_string(id) + " is out of range (vocabulary has " +
                    std::to_string(tokens.size()) + " tokens)");
  }
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_vocab(TokenizerVocab vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) throw bad_input("tokenizer vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX)) throw bad_input("tokenizer vocabulary is too large");
  if (!vocab.token_types.empty() && vocab.token_types.size() != n) {
    throw bad_input("tokenizer has " + std::to_string(n) + " tokens but " +
                    std::to_string(vocab.token_types.size()) + " token types");
  }
  for (const auto& [name, id] : {std::pair{"bos", vocab.bos_id}, std::pair{"eos", vocab.eos_id}}) {
    if (id < -1 || id >= static_cast<int32_t>(n)) {
      throw bad_input(std::string("tokenizer ") + name + " id " + std::to_string(id) +
                      " is out of range");
    }
  }

  auto impl = std::make_unique<Impl>(PreTokenizer::for_name(vocab.pre));
  impl->bos = vocab.bos_id;
  impl->eos = vocab.eos_id;
  impl->add_bos = vocab.add_bos;
  impl->types.resize(n, TokenType::normal);
  for (size_t i = 0; i < vocab.token_types.size(); ++i) {
    impl->types[i] = static_cast<TokenType>(vocab.token_types[i]);
  }

  std::unordered_map<std::string, int32_t> by_spelling;
  std::vector<AddedToken> added;
  by_spelling.reserve(n);
  impl->by_text.reserve(n);
  impl->pieces.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    const std::string& token = vocab.tokens[i];
    // Later duplicates win, as when Hugging Face builds its vocab dict.
    impl->by_text[token] = id;
    by_spelling[spelled(token)] = id;
    const TokenType type = impl->types[i];
    if (type == TokenType::control || type == TokenType::user_defined) {
      // Control tokens are Hugging Face's special tokens; user-defined ones
      // are added tokens matched even when specials are read as text.
      impl->pieces.push_back(token);
      AddedToken a;
      a.content = token;
      a.id = id;
      a.special = type == TokenType::control;
      added.push_back(std::move(a));
    } else {
      // Not in the alphabet: the entry is plain text (Hugging Face and
      // llama.cpp both decode it as written).
      std::optional<std::string> bytes = byte_level::decode(token);
      impl->pieces.push_back(bytes ? std::move(*bytes) : token);
    }
  }

  impl->model = BpeModel(std::move(by_spelling), BpeOptions{});
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const std::string& merge = vocab.merges[rank];
    // From position 1: a merge's left side may itself be a space.
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos) {
      throw bad_input("tokenizer merge #" + std::to_string(rank) + " (\"" + merge +
                      "\") is not two tokens separated by a space");
    }
    // A merge naming tokens the vocabulary lacks can never fire; skip it.
    (void)impl->model.add_merge(merge.substr(0, space), merge.substr(space + 1),
                                static_cast<int32_t>(rank));
  }
  impl->raw_added = AddedTokens(std::move(added));
  impl->tokens = std::move(vocab.tokens);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_gguf(const gguf::File& file) {
  const std::string model = file.get_string("tokenizer.ggml.model");
  if (model != "gpt2") {
    throw bad_input(file.path() + ": tokenizer.ggml.model is \"" + model +
                    "\"; lockstep supports only byte-level BPE (\"gpt2\") tokenizers from GGUF");
  }
  TokenizerVocab vocab;
  vocab.tokens = file.get_string_array("tokenizer.ggml.tokens");
  if (file.has("tokenizer.ggml.token_type")) {
    for (const int64_t type : file.get_int_array("tokenizer.ggml.token_type")) {
      vocab.token_types.push_back(static_cast<int32_t>(type));
    }
  }
  vocab.merges = file.get_string_array("tokenizer.ggml.merges");
  vocab.pre = file.get_string("tokenizer.ggml.pre", "default");
  vocab.bos_id = static_cast<int32_t>(file.get_int("tokenizer.ggml.bos_token_id", -1));
  vocab.eos_id = static_cast<int32_t>(file.get_int("tokenizer.ggml.eos_token_id", -1));
  vocab.add_bos = file.get_bool("tokenizer.ggml.add_bos_token", false);
  try {
    Tokenizer t = from_vocab(std::move(vocab));
    t.impl_->add_eos = file.get_bool("tokenizer.ggml.add_eos_token", false);
    t.impl_->chat_template = file.get_string("tokenizer.chat_template", "");
    return t;
  } catch (const Error& e) {
    throw bad_input(file.path() + ": " + e.what());
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  for (const AddedTokens::Piece& p : impl_->raw_added.split(text, parse_special)) {
    if (p.id >= 0) {
      out.push_back(p.id);
    } else {
      impl_->encode_plain(text.substr(p.begin, p.end - p.begin), p.begin == 0, parse_special, out);
    }
  }
  return out;
}

std::vector<int32_t> Tokenizer::with_special_tokens(std::vector<int32_t> ids) const {
  if (impl_->add_bos && impl_->bos >= 0) ids.insert(ids.begin(), impl_->bos);
  if (impl_->add_eos && impl_->eos >= 0) ids.push_back(impl_->eos);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  for (const int32_t id : ids) impl_->check_id(id);
  if (!impl_->decode_by_pieces) {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const int32_t id : ids) tokens.push_back(impl_->tokens[id]);
    return impl_->decoder.decode(std::move(tokens));
  }
  std::string out;
  for (const int32_t id : ids) out += impl_->pieces[id];
  return out;
}

std::string Tokenizer::decode_token(int32_t id) const {
  impl_->check_id(id);
  return impl_->pieces[id];
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token_text) const {
  const auto it = impl_->by_text.find(std::string(token_text));
  if (it == impl_->by_text.end()) return std::nullopt;
  return it->second;
}

TokenType Tokenizer::token_type(int32_t id) const {
  impl_->check_id(id);
  return impl_->types[id];
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->tokens.size()); }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
const std::string& Tokenizer::pre_tokenizer() const { return impl_->pre.name(); }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }

}  // namespace lockstep

#include "core/tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <climits>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/weights/gguf.h"

namespace lockstep {
namespace {

struct Merge {
  int32_t rank;
  int32_t new_id;
};

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

std::string hex(uint8_t byte) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return {kDigits[byte >> 4], kDigits[byte & 15]};
}

struct Special {
  std::string text;
  int32_t id;
  bool control;   // dropped from matching when parse_special is off
};

// Hugging Face spells a vocabulary entry that is not already in the byte
// alphabet by its UTF-8 bytes, so merges name it that way too.
std::string spelled(const std::string& token) {
  return byte_level::is_spelled(token) ? token : byte_level::encode(token);
}

}  // namespace

struct Tokenizer::Impl {
  std::vector<std::string> tokens;
  std::vector<TokenType> types;
  std::vector<std::string> pieces;                      // what each id decodes to
  std::unordered_map<std::string, int32_t> by_text;
  std::array<int32_t, 256> byte_ids{};                  // -1: byte has no token
  std::unordered_map<uint64_t, Merge> merges;
  std::vector<Special> specials;
  std::array<std::vector<uint32_t>, 256> specials_by_lead;  // longest first
  PreTokenizer pre;
  int32_t bos = -1;
  int32_t eos = -1;
  bool add_bos = false;

  explicit Impl(PreTokenizer p) : pre(std::move(p)) {}

  void encode_plain(std::string_view text, std::vector<int32_t>& out) const {
    for (const std::string_view word : pre.split(text)) merge_word(word, out);
  }

  // Merges the lowest-ranked adjacent pair first, the leftmost on a tie, as
  // Hugging Face's BPE does; a heap keeps long words (runs of spaces,
  // minified code) from going quadratic.
  void merge_word(std::string_view word, std::vector<int32_t>& out) const {
    struct Symbol {
      int32_t id;
      int32_t prev;
      int32_t next;
      bool alive;
    };
    struct Candidate {
      int32_t rank;
      int32_t pos;
      int32_t new_id;
      bool operator<(const Candidate& o) const {   // priority_queue pops the greatest
        return rank != o.rank ? rank > o.rank : pos > o.pos;
      }
    };

    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    for (size_t i = 0; i < word.size(); ++i) {
      const auto byte = static_cast<uint8_t>(word[i]);
      if (byte_ids[byte] < 0) {
        throw bad_input("cannot tokenize byte 0x" + hex(byte) +
                        ": the vocabulary has no token for it");
      }
      symbols.push_back({byte_ids[byte], static_cast<int32_t>(i) - 1,
                         i + 1 < word.size() ? static_cast<int32_t>(i + 1) : -1, true});
    }
    if (symbols.size() > 1) {
      std::priority_queue<Candidate> queue;
      auto consider = [&](int32_t pos) {
        const int32_t next = symbols[pos].next;
        if (next < 0) return;
        const auto it = merges.find(pair_key(symbols[pos].id, symbols[next].id));
        if (it != merges.end()) queue.push({it->second.rank, pos, it->second.new_id});
      };
      for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos) consider(pos);

      while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        Symbol& left = symbols[top.pos];
        if (!left.alive || left.next < 0) continue;
        // An entry is stale when either side has merged since it was pushed.
        const auto it = merges.find(pair_key(left.id, symbols[left.next].id));
        if (it == merges.end() || it->second.rank != top.rank || it->second.new_id != top.new_id) {
          continue;
        }

        Symbol& right = symbols[left.next];
        right.alive = false;
        left.id = top.new_id;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = top.pos;
        if (left.prev >= 0) consider(left.prev);
        consider(top.pos);
      }
    }
    for (const Symbol& s : symbols) {
      if (s.alive) out.push_back(s.id);
    }
  }

  void check_id(int32_t id) const {
    if (id < 0 || id >= static_cast<int32_t>(tokens.size())) {
      throw bad_input("token id " + std::to_string(id) + " is out of range (vocabulary has " +
                      std::to_string(tokens.size()) + " tokens)");
    }
  }
};

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
    const bool special = type == TokenType::control || type == TokenType::user_defined;
    if (special) {
      impl->pieces.push_back(token);
      if (!token.empty()) impl->specials.push_back({token, id, type == TokenType::control});
    } else {
      // Not in the alphabet: the entry is plain text (Hugging Face and
      // llama.cpp both decode it as written).
      std::optional<std::string> bytes = byte_level::decode(token);
      impl->pieces.push_back(bytes ? std::move(*bytes) : token);
    }
  }

  for (int b = 0; b < 256; ++b) {
    std::string ch;
    utf8::append(ch, byte_level::byte_to_codepoint(static_cast<uint8_t>(b)));
    const auto it = by_spelling.find(ch);
    impl->byte_ids[b] = it == by_spelling.end() ? -1 : it->second;
  }

  impl->merges.reserve(vocab.merges.size());
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const std::string& merge = vocab.merges[rank];
    // From position 1: a merge's left side may itself be a space.
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos) {
      throw bad_input("tokenizer merge #" + std::to_string(rank) + " (\"" + merge +
                      "\") is not two tokens separated by a space");
    }
    const std::string left = merge.substr(0, space);
    const std::string right = merge.substr(space + 1);
    const auto l = by_spelling.find(left);
    const auto r = by_spelling.find(right);
    const auto m = by_spelling.find(left + right);
    // A merge naming tokens the vocabulary lacks can never fire; skip it.
    if (l == by_spelling.end() || r == by_spelling.end() || m == by_spelling.end()) continue;
    impl->merges[pair_key(l->second, r->second)] = {static_cast<int32_t>(rank), m->second};
  }

  for (uint32_t i = 0; i < impl->specials.size(); ++i) {
    impl->specials_by_lead[static_cast<uint8_t>(impl->specials[i].text[0])].push_back(i);
  }
  for (auto& bucket : impl->specials_by_lead) {
    std::stable_sort(bucket.begin(), bucket.end(), [&](uint32_t a, uint32_t b) {
      return impl->specials[a].text.size() > impl->specials[b].text.size();
    });
  }
  impl->tokens = std::move(vocab.tokens);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_gguf(const gguf::File& file) {
  const std::string model = file.get_string("tokenizer.ggml.model");
  if (model != "gpt2") {
    throw bad_input(file.path() + ": tokenizer.ggml.model is \"" + model +
                    "\"; lockstep supports only byte-level BPE (\"gpt2\") tokenizers");
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
    return from_vocab(std::move(vocab));
  } catch (const Error& e) {
    throw bad_input(file.path() + ": " + e.what());
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  size_t plain_start = 0;
  size_t pos = 0;
  // Leftmost-longest special match, like Hugging Face's added-token split.
  while (pos < text.size()) {
    const Special* found = nullptr;
    for (const uint32_t index : impl_->specials_by_lead[static_cast<uint8_t>(text[pos])]) {
      const Special& s = impl_->specials[index];
      if (s.control && !parse_special) continue;
      if (text.compare(pos, s.text.size(), s.text) == 0) {
        found = &s;
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    impl_->encode_plain(text.substr(plain_start, pos - plain_start), out);
    out.push_back(found->id);
    pos += found->text.size();
    plain_start = pos;
  }
  impl_->encode_plain(text.substr(plain_start), out);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (const int32_t id : ids) {
    impl_->check_id(id);
    out += impl_->pieces[id];
  }
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
const std::string& Tokenizer::pre_tokenizer() const { return impl_->pre.name(); }

}  // namespace lockstep

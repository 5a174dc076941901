#include "core/tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "core/error.h"
#include "core/tokenizer/byte_level.h"
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault.h"
#endif

namespace lockstep {
namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

std::string hex_byte(uint8_t byte, bool upper) {
  char buf[3];
  std::snprintf(buf, sizeof(buf), upper ? "%02X" : "%02x", byte);
  return buf;
}

}  // namespace

BpeModel::BpeModel(std::unordered_map<std::string, int32_t> vocab, BpeOptions options)
    : vocab_(std::move(vocab)), options_(options) {
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    utf8::append(ch, byte_level::byte_to_codepoint(static_cast<uint8_t>(b)));
    const auto spelled = vocab_.find(ch);
    byte_ids_[b] = spelled == vocab_.end() ? -1 : spelled->second;
    // Hugging Face looks the byte up as format!("<{b:#04X}>"): "<0x0A>".
    const auto fallback = vocab_.find("<0x" + hex_byte(static_cast<uint8_t>(b), true) + ">");
    fallback_ids_[b] = fallback == vocab_.end() ? -1 : fallback->second;
  }
}

std::string BpeModel::add_merge(const std::string& left, const std::string& right, int32_t rank) {
  const auto l = vocab_.find(left);
  if (l == vocab_.end()) return left;
  const auto r = vocab_.find(right);
  if (r == vocab_.end()) return right;
  const auto m = vocab_.find(left + right);
  if (m == vocab_.end()) return left + right;
  // A repeated pair keeps its last rank, as Hugging Face's merge map does.
  merges_[pair_key(l->second, r->second)] = {rank, m->second};
  return {};
}

void BpeModel::encode(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const auto whole =
        vocab_.find(options_.byte_level ? byte_level::encode(word) : std::string(word));
    if (whole != vocab_.end()) {
      out.push_back(whole->second);
      return;
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(word.size());
  initial_symbols(word, symbols);
  merge(symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

// Hugging Face's BPE::merge_word, symbol by symbol: known symbols first,
// then byte fallback, then the (optionally fused) unknown token.
void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& symbols) const {
  int32_t pending_unk = -1;
  size_t pos = 0;
  while (pos < word.size()) {
    const auto lead = static_cast<uint8_t>(word[pos]);
    size_t len = 1;
    int32_t id = -1;
    if (options_.byte_level) {
      id = byte_ids_[lead];
    } else {
      // A malformed sequence counts as single bytes, which byte fallback covers.
      uint32_t cp = 0;
      size_t next = pos;
      len = utf8::next(word, next, cp) ? next - pos : 1;
      const auto it = vocab_.find(std::string(word.substr(pos, len)));
      if (it != vocab_.end()) id = it->second;
    }
    const std::string_view symbol = word.substr(pos, len);
    pos += len;
    if (id >= 0) {
      if (pending_unk >= 0) symbols.push_back(pending_unk);
      pending_unk = -1;
      symbols.push_back(id);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (const char c : symbol) all = all && fallback_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all) {
        for (const char c : symbol) symbols.push_back(fallback_ids_[static_cast<uint8_t>(c)]);
        continue;
      }
    }
    if (options_.unk_id < 0) {
      if (options_.byte_level) {
        throw bad_input("cannot tokenize byte 0x" + hex_byte(lead, false) +
                        ": the vocabulary has no token for it");
      }
      throw bad_input("cannot tokenize \"" + std::string(symbol) +
                      "\": the vocabulary has no token for it, no byte fallback and no unknown "
                      "token");
    }
    if (pending_unk >= 0 && !options_.fuse_unk) symbols.push_back(pending_unk);
    pending_unk = options_.unk_id;
  }
  if (pending_unk >= 0) symbols.push_back(pending_unk);
}

// A heap keeps long words (runs of spaces, minified code) from going quadratic.
void BpeModel::merge(std::vector<int32_t>& ids) const {
  if (ids.size() < 2 || merges_.empty()) return;
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
  const auto n = static_cast<int32_t>(ids.size());
  std::vector<Symbol> symbols;
  symbols.reserve(ids.size());
  for (int32_t i = 0; i < n; ++i) symbols.push_back({ids[i], i - 1, i + 1 < n ? i + 1 : -1, true});

  std::priority_queue<Candidate> queue;
  auto consider = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    const auto it = merges_.find(pair_key(symbols[pos].id, symbols[next].id));
#ifdef LOCKSTEP_FAULT_INJECTION
    if (it != merges_.end() && kernels::fault::drop_merge(it->second.rank)) return;
#endif
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.new_id});
  };
  for (int32_t pos = 0; pos + 1 < n; ++pos) consider(pos);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    // An entry is stale when either side has merged since it was pushed.
    const auto it = merges_.find(pair_key(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.rank != top.rank || it->second.new_id != top.new_id) {
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
  ids.clear();
  for (const Symbol& s : symbols) {
    if (s.alive) ids.push_back(s.id);
  }
}

}  // namespace lockstep

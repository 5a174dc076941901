#include "core/models/kv_cache.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/util/sha256.h"

namespace lockstep {

KvPool::KvPool(const ModelConfig& config, int64_t blocks, int64_t block_size, const at::TensorOptions& options)
    : blocks_(blocks), block_size_(block_size) {
  if (blocks < 1 || block_size < 1) throw bad_input("KvPool: blocks and block_size must be at least 1");
  if (blocks > INT32_MAX) throw bad_input("KvPool: at most 2^31 - 1 blocks");
  for (int64_t i = 0; i < config.n_layers; ++i) {
    keys_.push_back(at::empty({blocks, config.n_kv_heads, block_size, config.head_dim}, options));
    values_.push_back(at::empty({blocks, config.n_kv_heads, block_size, config.head_dim}, options));
  }
  free_.resize(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) free_[static_cast<size_t>(b)] = static_cast<int32_t>(blocks - 1 - b);
  holders_.assign(static_cast<size_t>(blocks), 0);
  key_of_.assign(static_cast<size_t>(blocks), std::string());
  idle_at_.assign(static_cast<size_t>(blocks), idle_.end());
}

int64_t KvPool::bytes_per_position(const ModelConfig& config, at::ScalarType dtype) {
  return 2 * config.n_layers * config.n_kv_heads * config.head_dim * static_cast<int64_t>(c10::elementSize(dtype));
}

int64_t KvPool::free_blocks() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(free_.size() + idle_.size());
}

int64_t KvPool::evictions() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return evictions_;
}

std::optional<int32_t> KvPool::take_block() {
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!idle_.empty()) {   // evict the least recently released published block
    b = idle_.front();
    idle_.pop_front();
    idle_at_[static_cast<size_t>(b)] = idle_.end();
    published_.erase(key_of_[static_cast<size_t>(b)]);
    key_of_[static_cast<size_t>(b)].clear();
    ++evictions_;
  } else {
    return std::nullopt;
  }
  holders_[static_cast<size_t>(b)] = 1;
  return b;
}

std::optional<std::vector<int32_t>> KvPool::try_allocate(int64_t positions) {
  const size_t n = static_cast<size_t>(blocks_for(std::max<int64_t>(positions, 0)));
  const std::lock_guard<std::mutex> lock(mutex_);
  if (n > free_.size() + idle_.size()) return std::nullopt;
  std::vector<int32_t> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(*take_block());
  return out;
}

void KvPool::release(const std::vector<int32_t>& blocks) {
  if (blocks.empty()) return;
  const std::lock_guard<std::mutex> lock(mutex_);
  bool freed = false;
  for (int32_t b : blocks) {
    const auto i = static_cast<size_t>(b);
    if (--holders_[i] > 0) continue;
    if (!key_of_[i].empty()) {
      idle_at_[i] = idle_.insert(idle_.end(), b);
    } else {
      free_.push_back(b);
      freed = true;
    }
  }
  if (freed) std::sort(free_.begin(), free_.end(), std::greater<>());
}

std::string KvPool::chain_key(const std::string& parent, const int32_t* tokens, int64_t count) {
  std::string bytes = parent;
  bytes.append(reinterpret_cast<const char*>(tokens), static_cast<size_t>(count) * sizeof(int32_t));
  return sha256_hex(bytes);
}

std::vector<int32_t> KvPool::match(const std::vector<int32_t>& tokens, int64_t max_blocks,
                                   std::vector<std::string>* keys) {
  std::vector<int32_t> out;
  std::string key;
  const std::lock_guard<std::mutex> lock(mutex_);
  for (int64_t i = 0; i < max_blocks && (i + 1) * block_size_ <= static_cast<int64_t>(tokens.size()); ++i) {
    key = chain_key(key, tokens.data() + i * block_size_, block_size_);
    const auto it = published_.find(key);
    if (it == published_.end()) break;
    const int32_t b = it->second;
    const auto at = static_cast<size_t>(b);
    if (holders_[at]++ == 0) {   // it was idle
      idle_.erase(idle_at_[at]);
      idle_at_[at] = idle_.end();
    }
    out.push_back(b);
    if (keys != nullptr) keys->push_back(key);
  }
  return out;
}

bool KvPool::publish(int32_t block, const std::string& key) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto at = static_cast<size_t>(block);
  if (!key_of_[at].empty() || !published_.emplace(key, block).second) return false;
  key_of_[at] = key;
  return true;
}

KvCache::KvCache(std::shared_ptr<KvPool> pool, int64_t capacity) {
  std::optional<KvCache> cache = try_reserve(pool, capacity);
  if (!cache) {
    throw bad_input("KV cache full: " + std::to_string(capacity) + " positions need " +
                    std::to_string(pool->blocks_for(capacity)) + " blocks, " + std::to_string(pool->free_blocks()) +
                    " of " + std::to_string(pool->blocks()) + " are free");
  }
  *this = std::move(*cache);
}

std::optional<KvCache> KvCache::try_reserve(std::shared_ptr<KvPool> pool, int64_t capacity,
                                            const std::vector<int32_t>* tokens) {
  if (!pool) throw bad_input("KvCache: no pool");
  if (capacity < 0) throw bad_input("KvCache: negative capacity");
  KvCache cache;
  cache.pool_ = pool;
  cache.capacity_ = capacity;
  if (tokens != nullptr && !tokens->empty()) {
    // The last token is always computed: its logits choose the first new one.
    const int64_t reusable = (static_cast<int64_t>(tokens->size()) - 1) / pool->block_size();
    cache.blocks_ = pool->match(*tokens, std::min(reusable, pool->blocks_for(capacity)), &cache.keys_);
    cache.length_ = cache.reused_ = static_cast<int64_t>(cache.blocks_.size()) * pool->block_size();
  }
  std::optional<std::vector<int32_t>> rest =
      pool->try_allocate(capacity - static_cast<int64_t>(cache.blocks_.size()) * pool->block_size());
  if (!rest) return std::nullopt;   // the destructor gives the matched blocks back
  cache.blocks_.insert(cache.blocks_.end(), rest->begin(), rest->end());
  return cache;
}

void KvCache::publish(const std::vector<int32_t>& tokens) {
  if (!pool_) return;
  const int64_t bs = pool_->block_size();
  const int64_t full = std::min<int64_t>(length_, static_cast<int64_t>(tokens.size())) / bs;
  for (auto i = static_cast<int64_t>(keys_.size()); i < full; ++i) {
    keys_.push_back(KvPool::chain_key(keys_.empty() ? std::string() : keys_.back(), tokens.data() + i * bs, bs));
    pool_->publish(blocks_[static_cast<size_t>(i)], keys_.back());
  }
}

void KvCache::reset() {
  if (pool_) pool_->release(blocks_);
  blocks_.clear();
  keys_.clear();
  pool_.reset();
  length_ = capacity_ = reused_ = 0;
}

KvCache::~KvCache() { reset(); }

KvCache::KvCache(KvCache&& other) noexcept
    : pool_(std::move(other.pool_)), blocks_(std::move(other.blocks_)), length_(other.length_),
      capacity_(other.capacity_), reused_(other.reused_), keys_(std::move(other.keys_)) {
  other.blocks_.clear();
  other.keys_.clear();
  other.length_ = other.capacity_ = other.reused_ = 0;
}

KvCache& KvCache::operator=(KvCache&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::move(other.pool_);
    blocks_ = std::move(other.blocks_);
    length_ = other.length_;
    capacity_ = other.capacity_;
    reused_ = other.reused_;
    keys_ = std::move(other.keys_);
    other.blocks_.clear();
    other.keys_.clear();
    other.length_ = other.capacity_ = other.reused_ = 0;
  }
  return *this;
}

}  // namespace lockstep

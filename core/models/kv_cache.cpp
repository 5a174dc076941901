#include "core/models/kv_cache.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>

#include "core/error.h"

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
}

int64_t KvPool::bytes_per_position(const ModelConfig& config, at::ScalarType dtype) {
  return 2 * config.n_layers * config.n_kv_heads * config.head_dim * static_cast<int64_t>(c10::elementSize(dtype));
}

int64_t KvPool::free_blocks() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(free_.size());
}

std::optional<std::vector<int32_t>> KvPool::try_allocate(int64_t positions) {
  const size_t n = static_cast<size_t>(blocks_for(std::max<int64_t>(positions, 0)));
  const std::lock_guard<std::mutex> lock(mutex_);
  if (n > free_.size()) return std::nullopt;
  std::vector<int32_t> out(free_.rbegin(), free_.rbegin() + static_cast<std::ptrdiff_t>(n));
  free_.resize(free_.size() - n);
  return out;
}

void KvPool::release(const std::vector<int32_t>& blocks) {
  if (blocks.empty()) return;
  const std::lock_guard<std::mutex> lock(mutex_);
  free_.insert(free_.end(), blocks.begin(), blocks.end());
  std::sort(free_.begin(), free_.end(), std::greater<>());
}

KvCache::KvCache(std::shared_ptr<KvPool> pool, int64_t capacity) : pool_(std::move(pool)), capacity_(capacity) {
  if (!pool_) throw bad_input("KvCache: no pool");
  if (capacity < 0) throw bad_input("KvCache: negative capacity");
  std::optional<std::vector<int32_t>> blocks = pool_->try_allocate(capacity);
  if (!blocks) {
    throw bad_input("KV cache full: " + std::to_string(capacity) + " positions need " +
                    std::to_string(pool_->blocks_for(capacity)) + " blocks, " +
                    std::to_string(pool_->free_blocks()) + " of " + std::to_string(pool_->blocks()) + " are free");
  }
  blocks_ = std::move(*blocks);
}

std::optional<KvCache> KvCache::try_reserve(std::shared_ptr<KvPool> pool, int64_t capacity) {
  if (!pool) throw bad_input("KvCache: no pool");
  if (capacity < 0) throw bad_input("KvCache: negative capacity");
  std::optional<std::vector<int32_t>> blocks = pool->try_allocate(capacity);
  if (!blocks) return std::nullopt;
  KvCache cache;
  cache.pool_ = std::move(pool);
  cache.blocks_ = std::move(*blocks);
  cache.capacity_ = capacity;
  return cache;
}

void KvCache::reset() {
  if (pool_) pool_->release(blocks_);
  blocks_.clear();
  pool_.reset();
  length_ = capacity_ = 0;
}

KvCache::~KvCache() { reset(); }

KvCache::KvCache(KvCache&& other) noexcept
    : pool_(std::move(other.pool_)), blocks_(std::move(other.blocks_)), length_(other.length_),
      capacity_(other.capacity_) {
  other.blocks_.clear();
  other.length_ = other.capacity_ = 0;
}

KvCache& KvCache::operator=(KvCache&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::move(other.pool_);
    blocks_ = std::move(other.blocks_);
    length_ = other.length_;
    capacity_ = other.capacity_;
    other.blocks_.clear();
    other.length_ = other.capacity_ = 0;
  }
  return *this;
}

}  // namespace lockstep

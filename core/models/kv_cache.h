// The KV cache: paged storage for every layer (KvPool), shared by the
// sequences of one engine, and one sequence's share of it (KvCache).
//
// A pool holds `blocks` blocks of `block_size` positions for every layer, as
// [blocks, n_kv_heads, block_size, head_dim] tensors for the keys and for the
// values (kernels/paged_attention.h has the layout). A sequence reserves
// the blocks for its whole capacity (prompt + max_new_tokens) when it is
// made, so a running sequence never runs out of room and nothing is ever
// preempted; a request that does not fit waits (core/engine/engine.h). Which
// blocks a sequence gets never changes its bits: attention reads every
// position through the block table, in the order fixed by positions.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/models/model_config.h"

namespace lockstep {

class KvPool {
 public:
  static constexpr int64_t kDefaultBlockSize = 16;

  // bad_input for blocks < 1 or block_size < 1.
  KvPool(const ModelConfig& config, int64_t blocks, int64_t block_size, const at::TensorOptions& options);
  KvPool(const KvPool&) = delete;
  KvPool& operator=(const KvPool&) = delete;

  // Bytes one position takes over every layer (keys and values).
  static int64_t bytes_per_position(const ModelConfig& config, at::ScalarType dtype);

  int64_t block_size() const { return block_size_; }
  int64_t blocks() const { return blocks_; }
  int64_t blocks_for(int64_t positions) const { return (positions + block_size_ - 1) / block_size_; }
  int64_t free_blocks() const;
  // The blocks for `positions` positions (lowest free ids first), or nothing
  // when too few are free.
  std::optional<std::vector<int32_t>> try_allocate(int64_t positions);
  void release(const std::vector<int32_t>& blocks);

  const at::Tensor& keys(int64_t layer) const { return keys_[static_cast<size_t>(layer)]; }
  const at::Tensor& values(int64_t layer) const { return values_[static_cast<size_t>(layer)]; }

 private:
  int64_t blocks_ = 0, block_size_ = 0;
  std::vector<at::Tensor> keys_, values_;
  mutable std::mutex mutex_;
  std::vector<int32_t> free_;   // descending, so the smallest id is at the back
};

// One sequence's blocks in a pool, released when the cache is destroyed.
class KvCache {
 public:
  KvCache() = default;
  // bad_input when the pool has too few free blocks for `capacity` positions.
  KvCache(std::shared_ptr<KvPool> pool, int64_t capacity);
  // The same, or nothing when the pool has too few free blocks now.
  static std::optional<KvCache> try_reserve(std::shared_ptr<KvPool> pool, int64_t capacity);
  ~KvCache();
  KvCache(KvCache&& other) noexcept;
  KvCache& operator=(KvCache&& other) noexcept;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  const std::shared_ptr<KvPool>& pool() const { return pool_; }
  const std::vector<int32_t>& blocks() const { return blocks_; }

 private:
  friend class DecoderModel;
  void reset();
  std::shared_ptr<KvPool> pool_;
  std::vector<int32_t> blocks_;
  int64_t length_ = 0;
  int64_t capacity_ = 0;
};

}  // namespace lockstep

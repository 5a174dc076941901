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
//
// Prefix cache: a full block whose positions have been computed can be
// published under the SHA-256 chain of every token up to its end; a later
// sequence whose tokens begin the same way takes such blocks (shared,
// reference-counted, never written again) and starts computing after them.
// The keys and values of a position depend only on the tokens up to it and,
// in batch_invariant mode, not on how the positions were chunked or batched,
// so a reused prefix is bitwise a recomputed one. Published blocks nobody
// holds stay cached until free blocks run out; then the least recently
// released go first.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
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
  // Blocks not held by any cache (published ones nobody holds included).
  int64_t free_blocks() const;
  // Published blocks evicted so far.
  int64_t evictions() const;
  // The blocks for `positions` positions (lowest free ids first, then the
  // least recently released published ones), or nothing when too few are
  // free.
  std::optional<std::vector<int32_t>> try_allocate(int64_t positions);
  void release(const std::vector<int32_t>& blocks);

  // The chain key of a block of `tokens` after the block keyed `parent` ("" for the first).
  static std::string chain_key(const std::string& parent, const int32_t* tokens, int64_t count);
  // The published blocks that hold the longest prefix of `tokens`, at most
  // max_blocks, now held by the caller; keys[i] is block i's chain key.
  std::vector<int32_t> match(const std::vector<int32_t>& tokens, int64_t max_blocks, std::vector<std::string>* keys);
  // Publishes `block` (computed, held by the caller) under `key`; false if
  // the key is already published (the block then stays private).
  bool publish(int32_t block, const std::string& key);

  const at::Tensor& keys(int64_t layer) const { return keys_[static_cast<size_t>(layer)]; }
  const at::Tensor& values(int64_t layer) const { return values_[static_cast<size_t>(layer)]; }

 private:
  int64_t blocks_ = 0, block_size_ = 0;
  std::vector<at::Tensor> keys_, values_;
  std::optional<int32_t> take_block();   // under mutex_
  mutable std::mutex mutex_;
  std::vector<int32_t> free_;   // descending, so the smallest id is at the back
  std::vector<int32_t> holders_;          // per block: caches that hold it
  std::vector<std::string> key_of_;       // per block: its published key, or ""
  std::unordered_map<std::string, int32_t> published_;
  std::list<int32_t> idle_;               // published, held by nobody: oldest release first
  std::vector<std::list<int32_t>::iterator> idle_at_;
  int64_t evictions_ = 0;
};

// One sequence's blocks in a pool, released when the cache is destroyed.
class KvCache {
 public:
  KvCache() = default;
  // bad_input when the pool has too few free blocks for `capacity` positions.
  KvCache(std::shared_ptr<KvPool> pool, int64_t capacity);
  // The same, or nothing when the pool has too few free blocks now. With
  // `tokens`, the longest published prefix of them (up to the block before
  // the last token, which must be computed for its logits) is taken from
  // the prefix cache, and length() starts after it.
  static std::optional<KvCache> try_reserve(std::shared_ptr<KvPool> pool, int64_t capacity,
                                            const std::vector<int32_t>* tokens = nullptr);
  // Publishes the full blocks of computed positions (below length()) that
  // are not published yet; `tokens` are the sequence's tokens so far.
  void publish(const std::vector<int32_t>& tokens);
  // Positions taken from the prefix cache when the cache was made.
  int64_t reused() const { return reused_; }
  // Whether publish() has a newly computed full block to publish.
  bool has_unpublished_block() const {
    return pool_ && length_ / pool_->block_size() > static_cast<int64_t>(keys_.size());
  }
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
  int64_t reused_ = 0;
  std::vector<std::string> keys_;   // chain keys of the leading blocks published or reused
};

}  // namespace lockstep

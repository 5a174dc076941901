// The engine's attention: the queries of every sequence of a step against one
// paged KV cache, in one call per layer.
//
// Layout. A layer's cache is [blocks, Hkv, block, D] (keys) and
// [blocks, Hkv, block, Dv] (values): key position j of a sequence lives in
// block table[j / block] at position j % block, so one head's keys of a
// block are contiguous (a kernel streams them). Queries are token-major
// [N, Hq, D]: the tokens of sequence 0, then of sequence 1, ..; token n sits
// at position tok_pos[n] of sequence tok_seq[n] and sees that sequence's
// keys max(0, pos + 1 - window) .. pos (causal; window 0: no window). The
// caller has written the step's own keys and values into the cache first.
//
// Bits. Under Mode::batch_invariant every query row gets exactly the bits of
// aten SDPA over its own sequence alone (THE ORDER of the attention kernel:
// keys in fixed splits of kKvSplit positions), so a row does not depend on
// the other sequences, the block size or which blocks it was given. Where no
// fused kernel exists (mode off, portable, other dtypes), the same function
// runs aten SDPA per sequence over a view or gather of its keys: the
// reference the fused kernels are tested against. The fused kernels: CPU
// fp32/bf16 (kernels/cpu/paged_attention.cpp) and CUDA fp32/bf16/fp16
// (kernels/cuda/paged_attention.cu, the CUDA SDPA kernel's ORDER over this layout).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace lockstep::kernels {

// One step's view of the cache, made once per step and shared by its layers.
class PagedStep {
 public:
  struct Sequence {
    int64_t offset = 0;   // first token of the sequence in q
    int64_t length = 0;   // its tokens in this step
    int64_t pos0 = 0;     // position of its first token
    std::vector<int32_t> blocks;   // block table, at least ceil((pos0 + length) / block) entries
  };
  // A step replayed by a CUDA graph: fixed shapes, and the metadata copied
  // into buffers the graph was captured with.
  struct Fixed {
    at::Tensor meta;          // int64 on the device, meta_size() elements
    int64_t table_width = 0;  // every table padded (with block 0) to this many blocks
    int64_t max_keys = 0;     // the attention kernels' bound on pos0 + length, for every replay
  };
  static int64_t meta_size(int64_t tokens, int64_t sequences, int64_t table_width, int64_t kv_heads) {
    return tokens * kv_heads + tokens + sequences * table_width + 3 * sequences;
  }
  // bad_input-style c10::Error for an empty step, overlapping or unordered
  // tokens, or a table too short for its positions (or wider than fixed's).
  PagedStep(std::vector<Sequence> sequences, int64_t block, int64_t window, int64_t kv_heads, at::Device device,
            const Fixed* fixed = nullptr);

  const std::vector<Sequence>& sequences() const { return seqs_; }
  int64_t block() const { return block_; }
  int64_t window() const { return window_; }
  int64_t tokens() const { return tokens_; }
  // int64 [N] on the device: the position of every token (RoPE, learned positions).
  const at::Tensor& positions() const { return tok_pos_dev_; }
  // int64 block ids of sequence i's positions on the device, or undefined
  // when they are consecutive (the per-sequence path then takes a view).
  const at::Tensor& gather(size_t i) const { return gathers_[i]; }
  // Makes what the CUDA kernel needs for `group` query heads per kv head now
  // (it is otherwise made by the first layer's call): before a graph's capture.
  void prepare_cuda(int64_t group) const;
  // The CUDA work list made by prepare_cuda (a graph keeps it alive).
  const at::Tensor& cuda_tiles() const { return cuda_tiles_; }
  // Writes the step's keys or values x [N, Hkv, D] into a cache
  // [blocks, Hkv, block, D] at every token's position (one index_copy_).
  void write(const at::Tensor& cache, const at::Tensor& x) const;
  // int64 [N * Hkv] on the device: the row of (token n, kv head h), at n * Hkv + h, in a
  // cache seen as [blocks * Hkv * block, D] (what write() copies to; kernels/fused.h).
  const at::Tensor& cache_rows() const { return rows_dev_; }
  int64_t kv_heads() const { return kv_heads_; }

 private:
  friend at::Tensor stock_varlen(const at::Tensor&, const at::Tensor&, const at::Tensor&, const PagedStep&,
                                 std::optional<double>);
  friend at::Tensor paged_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, const PagedStep&,
                                    std::optional<double>);
  std::vector<Sequence> seqs_;
  int64_t block_ = 0, window_ = 0, kv_heads_ = 0, tokens_ = 0, max_keys_ = 0;
  at::Device device_;
  at::Tensor tables_, tok_seq_, tok_pos_;   // on the host (the CPU kernel reads them there)
  at::Tensor tok_pos_dev_;
  std::vector<at::Tensor> gathers_;   // see gather()
  at::Tensor rows_dev_;     // int64 [N * Hkv]: row of (token, head) in a cache seen as [blocks * Hkv * block, D]
  at::Tensor tables_dev_;   // int64 [B, width] on the device
  at::Tensor seqs_dev_;     // int64 [B * 3] on the device: offset, length, pos0 of each sequence
  // The CUDA kernel's work list for G query heads per kv head, made by the
  // first layer's call and reused by the others (see cuda::paged_tiles).
  mutable at::Tensor cuda_tiles_;
  mutable int cuda_row_tile_ = 0;
  mutable int64_t cuda_group_ = 0;
  // Mode off on CUDA (stock FlashAttention varlen over gathered keys): the
  // rows to gather, the cumulative key and query counts, made once a step.
  mutable at::Tensor stock_rows_, stock_cum_;
  mutable int64_t stock_max_queries_ = 0, stock_max_keys_ = 0;   // this step's own (a graph's max_keys_ is the context)
};

// `host` on `device`: the same tensor on the CPU; else copied from pinned
// memory without blocking the host (the copy is ordered on the current stream).
at::Tensor upload(const at::Tensor& host, at::Device device);

// q [N, Hq, D]; caches [blocks, Hkv, block, D] / [.., Dv]. Returns [N, Hq, Dv].
// scale: 1 / sqrt(D) when not given (as aten SDPA).
at::Tensor paged_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                           const PagedStep& step, std::optional<double> scale);

}  // namespace lockstep::kernels

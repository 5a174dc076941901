// CUDA graphs of the decoder's decode steps (every sequence one token), one
// per batch bucket (1, 2, 4, 8, then multiples of 8 up to the engine's
// largest batch). A step of B sequences replays the smallest bucket >= B,
// padded with one-token sequences over a scratch block of the pool; their
// rows are computed and dropped.
//
// Bits. A replay runs the kernels the eager step runs, on the same rows; only
// the padding rows and the attention's fixed key bound (the context, so that
// its grid is fixed) differ. In batch_invariant mode neither changes a row:
// the GEMMs and norms are row-independent by construction and splits past a
// sequence's keys are skipped exactly (tests/core/models/decode_graphs_test.cpp
// and the GPU property test check graphs == eager).
//
// With the mode off (the stock baseline) the graphs are piecewise, as
// vLLM's are: the stock attention over the cache (FlashAttention varlen over
// keys gathered by indices the host makes each step) cannot be captured, so a
// bucket holds one graph per stretch between attentions (n_layers + 1) and
// each layer's attention runs eagerly between their replays. A replay then
// equals the eager step of the same padded batch, not of the unpadded one:
// stock kernels are not batch-invariant.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/models/decoder.h"

namespace lockstep {

class DecodeGraphs {
 public:
  // Takes one block of `pool` as the padding's scratch (released on destruction).
  // Throws bad_input off CUDA or in a build without CUDA.
  DecodeGraphs(std::shared_ptr<const DecoderModel> model, std::shared_ptr<KvPool> pool, int64_t max_batch);
  ~DecodeGraphs();
  DecodeGraphs(const DecodeGraphs&) = delete;
  DecodeGraphs& operator=(const DecodeGraphs&) = delete;

  // Whether this build can capture graphs for `model` (CUDA build, model on a GPU).
  static bool supported(const DecoderModel& model);
  // Whether a step of these chunks can replay a graph: every chunk one
  // token, at most max_batch of them, every cache within the context.
  bool fits(const std::vector<SequenceChunk>& chunks) const;
  // Runs the step (capturing its bucket's graph first if needed) and extends
  // the caches: fp32 logits [chunks, vocab] on the device, valid until the
  // next call. With `ids` (int64 [chunks] on the device) the step runs those
  // tokens instead of the chunks' own (DecoderModel::forward_last_on_device).
  at::Tensor step(const std::vector<SequenceChunk>& chunks, const at::Tensor& ids = {});
  // Graphs captured so far.
  int64_t captured() const;

 private:
  struct Bucket;
  Bucket& bucket_for(int64_t batch);
  void capture(Bucket& b, const DecoderModel::StepHandle& step);
  void replay(Bucket& b, const DecoderModel::StepHandle& step);

  std::shared_ptr<const DecoderModel> model_;
  std::shared_ptr<KvPool> pool_;
  int64_t max_batch_ = 0, table_width_ = 0;
  int32_t scratch_ = 0;
  std::map<int64_t, std::unique_ptr<Bucket>> buckets_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep

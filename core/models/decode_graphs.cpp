#include "core/models/decode_graphs.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "kernels/mode.h"

#ifdef LOCKSTEP_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace lockstep {

#ifdef LOCKSTEP_WITH_CUDA
struct DecodeGraphs::Impl {
  c10::cuda::MempoolId_t pool = at::cuda::graph_pool_handle();   // shared by the buckets: they replay one at a time
};

struct DecodeGraphs::Bucket {
  int64_t batch = 0;
  kernels::Mode mode = kernels::Mode::off;
  at::Tensor ids;                        // int64 [batch] on the device
  kernels::PagedStep::Fixed fixed;       // its metadata buffer
  at::Tensor tiles, logits;              // kept alive for the graph
  // One graph, or (piecewise) n_layers + 1 pieces with each layer's
  // attention run eagerly between them: queries[i] is what piece i leaves
  // for layer i's attention, outs[i] where piece i + 1 reads its result.
  std::vector<std::unique_ptr<at::cuda::CUDAGraph>> pieces;
  std::vector<at::Tensor> queries, outs;
  void reset() {
    pieces.clear();
    queries.clear();
    outs.clear();
  }
};
#else
struct DecodeGraphs::Impl {};
struct DecodeGraphs::Bucket {};
#endif

bool DecodeGraphs::supported(const DecoderModel& model) {
#ifdef LOCKSTEP_WITH_CUDA
  return model.device().is_cuda();
#else
  (void)model;
  return false;
#endif
}

DecodeGraphs::DecodeGraphs(std::shared_ptr<const DecoderModel> model, std::shared_ptr<KvPool> pool, int64_t max_batch)
    : model_(std::move(model)), pool_(std::move(pool)), max_batch_(max_batch) {
  if (!model_ || !pool_ || max_batch_ < 1 || !supported(*model_)) {
    throw bad_input("DecodeGraphs: needs a model on a CUDA device, its pool and max_batch >= 1");
  }
  auto block = pool_->try_allocate(1);
  if (!block) throw bad_input("DecodeGraphs: no free block for the padding");
  scratch_ = block->front();
  table_width_ = pool_->blocks_for(model_->config().context);
  impl_ = std::make_unique<Impl>();
}

DecodeGraphs::~DecodeGraphs() {
  buckets_.clear();
  pool_->release({scratch_});
}

int64_t DecodeGraphs::captured() const {
  int64_t n = 0;
#ifdef LOCKSTEP_WITH_CUDA
  for (const auto& [batch, b] : buckets_) n += !b->pieces.empty();
#endif
  return n;
}

bool DecodeGraphs::fits(const std::vector<SequenceChunk>& chunks) const {
  if (chunks.empty() || static_cast<int64_t>(chunks.size()) > max_batch_) return false;
  for (const SequenceChunk& c : chunks) {
    if (c.ids.size() != 1 || c.cache == nullptr || c.cache->pool() != pool_) return false;
    if (c.cache->length() + 1 > model_->config().context) return false;
  }
  return true;
}

#ifdef LOCKSTEP_WITH_CUDA

DecodeGraphs::Bucket& DecodeGraphs::bucket_for(int64_t batch) {
  int64_t size = batch <= 1 ? 1 : batch <= 2 ? 2 : batch <= 4 ? 4 : (batch + 7) / 8 * 8;
  size = std::min(std::max(size, batch), std::max(max_batch_, batch));
  auto& slot = buckets_[size];
  if (!slot) {
    slot = std::make_unique<Bucket>();
    slot->batch = size;
    const auto opts = at::TensorOptions().dtype(at::kLong).device(model_->device());
    slot->ids = at::zeros({size}, opts);
    slot->fixed.table_width = table_width_;
    slot->fixed.max_keys = table_width_ * pool_->block_size();
    slot->fixed.meta = at::zeros({kernels::PagedStep::meta_size(size, size, table_width_, model_->config().n_kv_heads)},
                                 opts);
  }
  return *slot;
}

void DecodeGraphs::capture(Bucket& b, const DecoderModel::StepHandle& step) {
  const ModelConfig& c = model_->config();
  const bool piecewise = kernels::mode() != kernels::Mode::batch_invariant;
  if (!piecewise) {
    step.paged().prepare_cuda(c.n_heads / c.n_kv_heads);
    b.tiles = step.paged().cuda_tiles();
  }
  // Warm-up outside the graph (library handles, workspaces, pinned GEMM
  // algorithms); it writes the same keys and values the replay writes.
  model_->run(step, b.ids, /*last_only=*/true);
  at::cuda::getCurrentCUDAStream().synchronize();
  if (piecewise) {
    for (int64_t i = 0; i < c.n_layers; ++i) {
      b.outs.push_back(at::empty({b.batch, c.n_heads, c.head_dim}, b.ids.options().dtype(model_->dtype())));
    }
  }
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  const c10::cuda::CUDAStreamGuard guard(side);
  const auto begin = [&] {
    b.pieces.push_back(std::make_unique<at::cuda::CUDAGraph>());
    b.pieces.back()->capture_begin(impl_->pool, cudaStreamCaptureModeThreadLocal);
  };
  // Piecewise: the stock attention (FlashAttention varlen over keys gathered
  // by host-made indices) takes the step's lengths from the host, so it runs
  // eagerly at replay, between the pieces, into a buffer the next piece reads.
  const DecoderModel::AttentionSeam seam = [&](int64_t layer, const at::Tensor& q) {
    b.pieces.back()->capture_end();
    b.queries.push_back(q);
    begin();
    return b.outs.at(static_cast<size_t>(layer));
  };
  begin();
  try {
    b.logits = model_->run(step, b.ids, /*last_only=*/true, piecewise ? seam : DecoderModel::AttentionSeam{});
  } catch (...) {
    if (!b.pieces.empty()) b.pieces.back()->capture_end();
    b.reset();
    throw;
  }
  b.pieces.back()->capture_end();
  b.mode = kernels::mode();
}

void DecodeGraphs::replay(Bucket& b, const DecoderModel::StepHandle& step) {
  for (size_t i = 0; i < b.pieces.size(); ++i) {
    b.pieces[i]->replay();
    if (i < b.outs.size()) b.outs[i].copy_(model_->attend(step, static_cast<int64_t>(i), b.queries[i]));
  }
}

at::Tensor DecodeGraphs::step(const std::vector<SequenceChunk>& chunks, const at::Tensor& ids) {
  if (!fits(chunks)) throw bad_input("DecodeGraphs: the step is not a decode step that fits");
  if (ids.defined() && (ids.dim() != 1 || ids.size(0) != static_cast<int64_t>(chunks.size()) ||
                        ids.scalar_type() != at::kLong || ids.device().type() != model_->device().type())) {
    throw bad_input("DecodeGraphs: the step's token ids must be int64 [chunks] on the model's device");
  }
  const c10::InferenceMode inference;
  const c10::cuda::CUDAGuard device(model_->device());
  const auto n = static_cast<int64_t>(chunks.size());
  Bucket& b = bucket_for(n);
  if (!b.pieces.empty() && b.mode != kernels::mode()) b.reset();   // captured under the other kernels
  const DecoderModel::StepHandle step = model_->prepare(chunks, b.batch, scratch_, &b.fixed);
  if (ids.defined()) {
    b.ids.narrow(0, 0, n).copy_(ids, /*non_blocking=*/true);
  } else {
    at::Tensor host = at::zeros({b.batch}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
    for (int64_t i = 0; i < n; ++i) host.data_ptr<int64_t>()[i] = chunks[static_cast<size_t>(i)].ids[0];
    b.ids.copy_(host, /*non_blocking=*/true);
  }
  if (b.pieces.empty()) capture(b, step);
  replay(b, step);
  model_->advance(chunks);
  return b.logits.narrow(0, 0, n);
}

#else

DecodeGraphs::Bucket& DecodeGraphs::bucket_for(int64_t) { throw bad_input("DecodeGraphs: built without CUDA"); }
void DecodeGraphs::capture(Bucket&, const DecoderModel::StepHandle&) {}
void DecodeGraphs::replay(Bucket&, const DecoderModel::StepHandle&) {}
at::Tensor DecodeGraphs::step(const std::vector<SequenceChunk>&, const at::Tensor&) { throw bad_input("DecodeGraphs: built without CUDA"); }

#endif

}  // namespace lockstep

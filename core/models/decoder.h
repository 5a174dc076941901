// The decoder-only transformer lockstep runs, for every supported family
// (ModelConfig): GPT-2 (LayerNorm, learned positions, gelu_new) and the
// Llama family (RMSNorm, RoPE incl. Llama-3 scaling, grouped-query attention,
// SwiGLU; Qwen2's q/k/v biases, Qwen3's q/k norms, Mistral's sliding window).
// The math follows transformers' modeling code operation for operation, in
// libtorch ops only, so that under kernels::ModeGuard(batch_invariant) every
// op runs on lockstep's invariant kernels.
//
// Batching is ragged: the tokens of every sequence in a step (a prompt or a
// chunk of one for a new request, one token for a running one) are stacked
// into one [tokens, hidden] matrix for the projections, norms, RoPE, the KV
// cache write and the MLP, whose kernels compute each row independently of
// the others; attention is one call per layer over the paged KV cache
// (kernels/paged_attention.h), each query reducing its own sequence's keys in
// an order fixed by positions. A sequence's bits therefore do not depend on
// who else is in the step.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/models/kv_cache.h"
#include "core/models/model_config.h"
#include "kernels/paged_attention.h"

namespace lockstep {

class TensorSource;

struct LoadOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;   // kFloat, kBFloat16, kHalf
};

// One sequence's part of a step: `ids` run at positions cache->length() ..
class ActivationProbe;

struct SequenceChunk {
  std::vector<int32_t> ids;
  KvCache* cache = nullptr;
  ActivationProbe* probe = nullptr;   // hashes this sequence's activations (core/models/probe.h)
};

class DecoderModel {
 public:
  // bad_input if a tensor is missing or has another shape than the config
  // implies, or the dtype/device is not supported.
  static DecoderModel load(const ModelConfig& config, const TensorSource& weights, const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  at::Device device() const { return options_.device; }
  at::ScalarType dtype() const { return options_.dtype; }
  // A pool of `blocks` blocks for the sequences of one engine.
  std::shared_ptr<KvPool> new_pool(int64_t blocks, int64_t block_size = KvPool::kDefaultBlockSize) const;
  // A cache of `capacity` positions in a pool of its own.
  KvCache new_cache(int64_t capacity) const;

  // Runs `ids` after the cache's tokens, appends their keys/values and
  // returns fp32 CPU logits of every token: [ids.size(), vocab].
  at::Tensor forward(const std::vector<int32_t>& ids, KvCache& cache) const;

  // One step of a ragged batch: every chunk runs after its own cache (which
  // it extends); all caches must share one pool. Returns fp32 CPU logits of
  // each chunk's last token: [chunks.size(), vocab].
  at::Tensor forward_last(const std::vector<SequenceChunk>& chunks) const;
  // The same, as fp32 logits left on the model's device (the engine chooses
  // greedy tokens there and copies the rows to the host for the digests).
  // With `ids` (int64 on the device, one per token of the chunks in order),
  // the step runs those tokens and the chunks' own ids only count them: the
  // engine feeds a step's greedy tokens to the next without the host.
  at::Tensor forward_last_on_device(const std::vector<SequenceChunk>& chunks, const at::Tensor& ids = {}) const;

  // Causal prefill of B sequences (any lengths) with no cache: fp32 CPU
  // logits [B, T, vocab] for equal lengths T.
  at::Tensor forward_batch(const std::vector<std::vector<int32_t>>& batch) const;

  struct Step;   // defined in decoder.cpp
  // A step prepared ahead of running it (the CUDA graphs of decode steps,
  // core/models/decode_graphs.h): the chunks checked and their metadata on
  // the device (into `fixed`'s buffers when given), padded to `pad_to`
  // sequences with one-token sequences at position 0 of block `pad_block`.
  class StepHandle {
   public:
    StepHandle(StepHandle&&) noexcept;
    ~StepHandle();
    const kernels::PagedStep& paged() const;

   private:
    friend class DecoderModel;
    explicit StepHandle(std::unique_ptr<Step> step);
    std::unique_ptr<Step> step_;
  };
  StepHandle prepare(const std::vector<SequenceChunk>& chunks, int64_t pad_to, int32_t pad_block,
                     const kernels::PagedStep::Fixed* fixed) const;
  // Stands in for each layer's attention over the cache (a piecewise CUDA
  // graph's seam: core/models/decode_graphs.h): gets the layer and its
  // queries after RoPE, [N, Hq, D], once their keys and values are in the
  // cache, and returns what attend() would, [N, Hq, Dv].
  using AttentionSeam = std::function<at::Tensor(int64_t layer, const at::Tensor& q)>;
  // Runs a prepared step over the token ids `index` (int64 on the device, one
  // per token, padding included): fp32 logits on the device, one row per
  // sequence (last_only) or token. Does not extend the caches: advance() does.
  at::Tensor run(const StepHandle& step, const at::Tensor& index, bool last_only,
                 const AttentionSeam& seam = {}) const;
  // Layer `layer`'s attention of a prepared step's queries over the cache
  // (what run() computes at the seam).
  at::Tensor attend(const StepHandle& step, int64_t layer, const at::Tensor& q) const;
  void advance(const std::vector<SequenceChunk>& chunks) const;

  // Named parameters (HF names, e.g. "model.layers.0.self_attn.q_proj.weight").
  const std::vector<std::pair<std::string, at::Tensor>>& parameters() const { return params_; }

 private:
  struct Layer {
    at::Tensor norm1_w, norm1_b, norm2_w, norm2_b;
    at::Tensor wq, wk, wv, wo, bq, bk, bv, bo;
    at::Tensor q_norm, k_norm;                 // qwen3
    at::Tensor w_gate, w_up, w_down, b_up, b_down, b_gate;   // gpt2: w_up = c_fc, w_down = c_proj
    // On the CPU, q/k/v and gate/up as one weight each (one GEMM instead of
    // three and two; the separate tensors above are views of these). The CPU
    // GEMM's order depends on K only, so an output element gets the same
    // bits either way; a CUDA GEMM's pinned algorithm depends on N, so CUDA
    // keeps them apart.
    at::Tensor w_qkv, b_qkv, w_gate_up, b_gate_up;
  };
  friend struct DecoderLoader;

  // Runs `chunks` (checked: ids, capacity, one pool) as one step and extends their caches.
  at::Tensor step(const std::vector<SequenceChunk>& chunks, bool last_only, bool to_host = true,
                  const at::Tensor& ids = {}) const;
  at::Tensor run(const at::Tensor& index, Step& step, bool last_only, bool to_host) const;
  at::Tensor attention(const Layer& layer, int64_t index, const at::Tensor& x, const Step& step) const;
  at::Tensor mlp(const Layer& layer, int64_t index, const at::Tensor& x, const Step& step) const;
  at::Tensor norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const;
  // x = x + delta (x replaced by the sum; nothing when delta is undefined), then norm(x).
  at::Tensor add_norm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& w, const at::Tensor& b) const;
  void check_ids(const std::vector<int32_t>& ids) const;

  ModelConfig config_;
  LoadOptions options_;
  at::Tensor embedding_, positions_, final_norm_w_, final_norm_b_, output_;
  std::vector<Layer> layers_;
  at::Tensor rope_cos_, rope_sin_;   // fp32 [context, head_dim] on the device
  std::vector<std::pair<std::string, at::Tensor>> params_;
};

}  // namespace lockstep

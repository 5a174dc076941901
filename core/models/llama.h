// Llama-architecture decoder (Llama 2/3, SmolLM2, TinyLlama, Mistral shapes)
// in libtorch fp32 on CPU: RMSNorm, grouped-query attention with RoPE, SwiGLU
// MLP, tied or untied output head. GGUF stores q/k projections permuted for
// ggml's interleaved RoPE; from_gguf undoes that permutation so the math is
// the Hugging Face formulation (rotate_half RoPE) operation for operation.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "core/models/model_config.h"

namespace lockstep::gguf { class File; }

namespace lockstep {


// Keys and values of every layer for one sequence, preallocated to capacity.
class KvCache {
 public:
  KvCache(const LlamaConfig& config, int64_t capacity);
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }

 private:
  friend class LlamaModel;
  std::vector<at::Tensor> keys_;     // per layer: [n_kv_heads, capacity, head_dim]
  std::vector<at::Tensor> values_;
  int64_t length_ = 0;
  int64_t capacity_ = 0;
};

class LlamaModel {
 public:
  // bad_input if the architecture is not llama or a tensor is missing or
  // has the wrong shape.
  static LlamaModel from_gguf(const gguf::File& file);

  const LlamaConfig& config() const { return config_; }
  KvCache new_cache(int64_t capacity) const { return KvCache(config_, capacity); }

  // Runs `ids` at positions cache.length() .. +ids.size()-1, appends their
  // keys/values to the cache and returns fp32 logits [ids.size(), vocab].
  at::Tensor forward(const std::vector<int32_t>& ids, KvCache& cache) const;

  // Causal prefill of B sequences of equal length with no cache: logits
  // [B, T, vocab]. Under kernels::ModeGuard(batch_invariant) a sequence's
  // logits are bitwise the same alone and in any batch.
  at::Tensor forward_batch(const std::vector<std::vector<int32_t>>& batch) const;

  // Named parameters (HF names, e.g. "model.layers.0.self_attn.q_proj.weight").
  const std::vector<std::pair<std::string, at::Tensor>>& parameters() const { return params_; }

 private:
  struct Layer {
    at::Tensor attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
  };
  // x: [B, T, hidden] at positions pos0 .. pos0+T-1; with a cache (B = 1)
  // the keys/values are appended to it and attention covers the prefix.
  at::Tensor run_layers(at::Tensor x, int64_t pos0, KvCache* cache) const;
  at::Tensor attention(const Layer& layer, int64_t index, const at::Tensor& x, int64_t pos0, KvCache* cache) const;
  at::Tensor embed(const std::vector<int32_t>& ids) const;

  LlamaConfig config_;
  at::Tensor embedding_, final_norm_, output_;
  std::vector<Layer> layers_;
  at::Tensor rope_cos_, rope_sin_;   // [context, head_dim], computed once
  std::vector<std::pair<std::string, at::Tensor>> params_;
};

}  // namespace lockstep

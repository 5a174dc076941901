// The shape and options of a decoder-only model, whatever file it came from:
// GGUF metadata (core/models/llama.cpp) or a Hugging Face config.json
// (core/models/hf_config.h). One struct covers the families lockstep runs:
//   gpt2                      LayerNorm, learned positions, gelu_new, fused c_attn
//   llama, mistral, qwen2,    RMSNorm, RoPE (rotate_half), grouped-query
//   qwen3 (SmolLM2 and        attention, SwiGLU MLP; qwen2 adds q/k/v biases,
//   TinyLlama are llama)      qwen3 adds per-head q/k RMSNorm.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep {

// Llama-3's "rope_scaling": {"rope_type": "llama3", ...}; type "none" is
// plain RoPE, "linear" divides positions by `factor`.
struct RopeScaling {
  std::string type = "none";          // none | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_positions = 8192;
};

struct ModelConfig {
  std::string model_type = "llama";   // HF model_type: gpt2 | llama | mistral | qwen2 | qwen3
  int64_t n_layers = 0;
  int64_t hidden = 0;
  int64_t ffn = 0;                    // intermediate size (gpt2: n_inner or 4*hidden)
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;               // qwen3 may set it apart from hidden / n_heads
  int64_t vocab = 0;
  int64_t context = 0;                // max_position_embeddings (gpt2: n_positions)
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  double norm_eps = 1e-5;             // rms_norm_eps (gpt2: layer_norm_epsilon)
  bool tied_embeddings = false;
  bool qkv_bias = false;              // qwen2 (attention_bias for llama-type configs)
  bool o_bias = false;                // llama attention_bias also biases o_proj
  bool mlp_bias = false;              // llama mlp_bias
  bool qk_norm = false;               // qwen3
  std::string activation = "silu";    // hidden_act (gpt2: activation_function, gelu_new)
  int64_t sliding_window = 0;         // 0: full attention (mistral may set one)
  int32_t bos_id = -1;                // from config.json when present, else -1
  std::vector<int32_t> eos_ids;       // config.json eos_token_id (int or list)

  bool is_gpt2() const { return model_type == "gpt2"; }
};


}  // namespace lockstep

#include "core/models/llama.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/weights/gguf.h"

namespace lockstep {
namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Dequantizes one tensor into a fresh fp32 CPU tensor of the expected
// row-major shape; a missing tensor or another shape is a bad_input error.
at::Tensor load(const gguf::File& file, const std::string& name, const std::vector<int64_t>& expected) {
  const gguf::TensorInfo& info = file.tensor(name);
  if (info.shape() != expected) {
    throw bad_input(file.path() + ": tensor " + name + " has shape " + shape_str(info.shape()) +
                    ", expected " + shape_str(expected));
  }
  at::Tensor out = at::empty(expected, at::kFloat);
  file.dequantize(info, out.data_ptr<float>());
  return out;
}

// ggml's llama converter permutes the rows of q/k so that ggml's RoPE can
// rotate adjacent pairs; undo it to get the Hugging Face row order, where
// RoPE rotates the two halves of each head (rotate_half).
at::Tensor unpermute_rope_rows(const at::Tensor& w, int64_t heads) {
  const int64_t half = w.size(0) / heads / 2;
  return w.reshape({heads, half, 2, w.size(1)}).transpose(1, 2).reshape(w.sizes()).contiguous();
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  // Same operation order as transformers' LlamaRMSNorm in fp32. x * x is
  // the bits of x.pow(2) (ATen squares by multiplying) without an op that
  // `lockstep scan` must flag for its fractional-exponent cases.
  at::Tensor variance = (x * x).mean(-1, /*keepdim=*/true);
  return weight * (x * at::rsqrt(variance + eps));
}

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

LlamaConfig read_config(const gguf::File& file) {
  const std::string arch = file.get_string("general.architecture");
  if (arch != "llama") {
    throw bad_input(file.path() + ": architecture '" + arch + "' is not supported by this build (supported: llama)");
  }
  LlamaConfig c;
  c.n_layers = file.get_int("llama.block_count");
  c.hidden = file.get_int("llama.embedding_length");
  c.ffn = file.get_int("llama.feed_forward_length");
  c.n_heads = file.get_int("llama.attention.head_count");
  c.n_kv_heads = file.get_int("llama.attention.head_count_kv", c.n_heads);
  c.context = file.get_int("llama.context_length");
  c.rope_theta = file.get_float("llama.rope.freq_base", 10000.0);
  c.norm_eps = file.get_float("llama.attention.layer_norm_norm_epsilon", 1e-5);
  auto positive = [&](int64_t v, const char* what) {
    if (v <= 0 || v > (int64_t(1) << 20)) {
      throw bad_input(file.path() + ": implausible " + what + " = " + std::to_string(v));
    }
  };
  positive(c.n_layers, "block_count");
  positive(c.hidden, "embedding_length");
  positive(c.ffn, "feed_forward_length");
  positive(c.n_heads, "head_count");
  positive(c.n_kv_heads, "head_count_kv");
  positive(c.context, "context_length");
  if (c.hidden % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0) {
    throw bad_input(file.path() + ": head counts do not divide the embedding length");
  }
  c.head_dim = c.hidden / c.n_heads;
  if (c.head_dim % 2 != 0) throw bad_input(file.path() + ": odd head dimension");
  const int64_t rope_dim = file.get_int("llama.rope.dimension_count", c.head_dim);
  if (rope_dim != c.head_dim) {
    throw bad_input(file.path() + ": partial rotary embeddings (rope dim " + std::to_string(rope_dim) +
                    " of head dim " + std::to_string(c.head_dim) + ") are not supported");
  }
  if (file.has("llama.rope.scaling.type") &&
      file.get_string("llama.rope.scaling.type") != "none") {
    throw bad_input(file.path() + ": RoPE scaling '" + file.get_string("llama.rope.scaling.type") +
                    "' is not supported yet");
  }
  const gguf::TensorInfo& embd = file.tensor("token_embd.weight");
  if (embd.dims.size() != 2) throw bad_input(file.path() + ": token_embd.weight is not a matrix");
  c.vocab = embd.dims[1];
  c.tied_embeddings = file.find_tensor("output.weight") == nullptr;
  if (!(c.rope_theta > 0) || !(c.norm_eps > 0)) throw bad_input(file.path() + ": invalid rope base or rms epsilon");
  return c;
}

}  // namespace

KvCache::KvCache(const LlamaConfig& config, int64_t capacity) : capacity_(capacity) {
  for (int64_t i = 0; i < config.n_layers; ++i) {
    keys_.push_back(at::empty({config.n_kv_heads, capacity, config.head_dim}, at::kFloat));
    values_.push_back(at::empty({config.n_kv_heads, capacity, config.head_dim}, at::kFloat));
  }
}

LlamaModel LlamaModel::from_gguf(const gguf::File& file) {
  LlamaModel m;
  m.config_ = read_config(file);
  const LlamaConfig& c = m.config_;
  const int64_t kv_dim = c.n_kv_heads * c.head_dim;
  m.embedding_ = load(file, "token_embd.weight", {c.vocab, c.hidden});
  m.final_norm_ = load(file, "output_norm.weight", {c.hidden});
  m.output_ = c.tied_embeddings ? m.embedding_ : load(file, "output.weight", {c.vocab, c.hidden});
  m.params_.emplace_back("model.embed_tokens.weight", m.embedding_);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    Layer l;
    l.attn_norm = load(file, p + "attn_norm.weight", {c.hidden});
    l.wq = unpermute_rope_rows(load(file, p + "attn_q.weight", {c.hidden, c.hidden}), c.n_heads);
    l.wk = unpermute_rope_rows(load(file, p + "attn_k.weight", {kv_dim, c.hidden}), c.n_kv_heads);
    l.wv = load(file, p + "attn_v.weight", {kv_dim, c.hidden});
    l.wo = load(file, p + "attn_output.weight", {c.hidden, c.hidden});
    l.ffn_norm = load(file, p + "ffn_norm.weight", {c.hidden});
    l.w_gate = load(file, p + "ffn_gate.weight", {c.ffn, c.hidden});
    l.w_up = load(file, p + "ffn_up.weight", {c.ffn, c.hidden});
    l.w_down = load(file, p + "ffn_down.weight", {c.hidden, c.ffn});
    const std::string h = "model.layers." + std::to_string(i) + ".";
    m.params_.emplace_back(h + "input_layernorm.weight", l.attn_norm);
    m.params_.emplace_back(h + "self_attn.q_proj.weight", l.wq);
    m.params_.emplace_back(h + "self_attn.k_proj.weight", l.wk);
    m.params_.emplace_back(h + "self_attn.v_proj.weight", l.wv);
    m.params_.emplace_back(h + "self_attn.o_proj.weight", l.wo);
    m.params_.emplace_back(h + "post_attention_layernorm.weight", l.ffn_norm);
    m.params_.emplace_back(h + "mlp.gate_proj.weight", l.w_gate);
    m.params_.emplace_back(h + "mlp.up_proj.weight", l.w_up);
    m.params_.emplace_back(h + "mlp.down_proj.weight", l.w_down);
    m.layers_.push_back(std::move(l));
  }
  m.params_.emplace_back("model.norm.weight", m.final_norm_);
  if (!c.tied_embeddings) m.params_.emplace_back("lm_head.weight", m.output_);

  // RoPE tables as transformers builds them (inv_freq = 1 / base^(2i/d),
  // angle = position * inv_freq as one fp32 product, then cos/sin), but
  // computed here by a scalar loop in double and rounded to fp32 once. Stock
  // at::pow/cos/sin round the tail of each thread's chunk with another formula
  // than the vector body, so their bits depend on the thread count and the
  // ISA; glibc's double pow/cos/sin do not, and every x86 machine and thread
  // count gets the same table (and so the same golden proof).
  const int64_t half = c.head_dim / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    inv_freq[static_cast<size_t>(i)] = static_cast<float>(
        1.0 / std::pow(static_cast<double>(c.rope_theta), static_cast<double>(2 * i) / static_cast<double>(c.head_dim)));
  }
  m.rope_cos_ = at::empty({c.context, c.head_dim}, at::kFloat);
  m.rope_sin_ = at::empty({c.context, c.head_dim}, at::kFloat);
  float* cos_out = m.rope_cos_.data_ptr<float>();
  float* sin_out = m.rope_sin_.data_ptr<float>();
  for (int64_t p = 0; p < c.context; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inv_freq[static_cast<size_t>(i)];
      const float cv = static_cast<float>(std::cos(static_cast<double>(angle)));
      const float sv = static_cast<float>(std::sin(static_cast<double>(angle)));
      cos_out[p * c.head_dim + i] = cos_out[p * c.head_dim + i + half] = cv;
      sin_out[p * c.head_dim + i] = sin_out[p * c.head_dim + i + half] = sv;
    }
  }
  return m;
}

at::Tensor LlamaModel::attention(const Layer& layer, int64_t index, const at::Tensor& x, int64_t pos0,
                                 KvCache* cache) const {
  const LlamaConfig& c = config_;
  const int64_t b = x.size(0), t = x.size(1), total = pos0 + t;
  // [B, heads, T, head_dim]
  at::Tensor q = at::linear(x, layer.wq).view({b, t, c.n_heads, c.head_dim}).transpose(1, 2);
  at::Tensor k = at::linear(x, layer.wk).view({b, t, c.n_kv_heads, c.head_dim}).transpose(1, 2);
  at::Tensor v = at::linear(x, layer.wv).view({b, t, c.n_kv_heads, c.head_dim}).transpose(1, 2);
  const at::Tensor cos = rope_cos_.narrow(0, pos0, t), sin = rope_sin_.narrow(0, pos0, t);
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;
  if (cache != nullptr) {
    cache->keys_[index].narrow(1, pos0, t).copy_(k[0]);
    cache->values_[index].narrow(1, pos0, t).copy_(v[0]);
    k = cache->keys_[index].narrow(1, 0, total).unsqueeze(0);
    v = cache->values_[index].narrow(1, 0, total).unsqueeze(0);
  }
  // Query i sits at position pos0 + i and sees keys 0 .. pos0 + i. SDPA's
  // is_causal is top-left aligned, right only when the queries start at 0;
  // a single query sees every cached key; a chunk after a prefix needs the
  // explicit bottom-right mask.
  std::optional<at::Tensor> mask;
  bool causal = false;
  if (t > 1 && pos0 == 0) {
    causal = true;
  } else if (t > 1) {
    mask = at::ones({t, total}, at::kBool).tril(pos0);
  }
  at::Tensor out = at::scaled_dot_product_attention(q, k, v, mask, 0.0, causal, std::nullopt, /*enable_gqa=*/true);
  return at::linear(out.transpose(1, 2).reshape({b, t, c.hidden}), layer.wo);
}

at::Tensor LlamaModel::embed(const std::vector<int32_t>& ids) const {
  for (int32_t id : ids) {
    if (id < 0 || id >= config_.vocab) throw bad_input("token id " + std::to_string(id) + " is out of range");
  }
  return embedding_.index_select(0, at::tensor(ids, at::kInt).to(at::kLong));
}

at::Tensor LlamaModel::run_layers(at::Tensor x, int64_t pos0, KvCache* cache) const {
  for (int64_t i = 0; i < config_.n_layers; ++i) {
    const Layer& layer = layers_[i];
    x = x + attention(layer, i, rms_norm(x, layer.attn_norm, config_.norm_eps), pos0, cache);
    at::Tensor h = rms_norm(x, layer.ffn_norm, config_.norm_eps);
    x = x + at::linear(at::silu(at::linear(h, layer.w_gate)) * at::linear(h, layer.w_up), layer.w_down);
  }
  return at::linear(rms_norm(x, final_norm_, config_.norm_eps), output_);
}

at::Tensor LlamaModel::forward(const std::vector<int32_t>& ids, KvCache& cache) const {
  const int64_t t = static_cast<int64_t>(ids.size());
  if (t == 0) throw bad_input("forward: no tokens to run");
  if (cache.length_ + t > cache.capacity_ || cache.length_ + t > config_.context) {
    throw bad_input("sequence of " + std::to_string(cache.length_ + t) + " tokens exceeds the cache capacity " +
                    std::to_string(std::min(cache.capacity_, config_.context)));
  }
  // No autograd bookkeeping: this is inference only.
  const c10::InferenceMode inference;
  at::Tensor x = embed(ids).unsqueeze(0);
  at::Tensor logits = run_layers(x, cache.length_, &cache)[0];
  cache.length_ += t;
  return logits;
}

at::Tensor LlamaModel::forward_batch(const std::vector<std::vector<int32_t>>& batch) const {
  if (batch.empty() || batch[0].empty()) throw bad_input("forward_batch: empty batch or sequence");
  const size_t t = batch[0].size();
  if (static_cast<int64_t>(t) > config_.context) throw bad_input("forward_batch: sequence longer than the context");
  const c10::InferenceMode inference;
  std::vector<at::Tensor> rows;
  for (const auto& ids : batch) {
    if (ids.size() != t) throw bad_input("forward_batch: sequences must have equal length");
    rows.push_back(embed(ids));
  }
  return run_layers(at::stack(rows), 0, nullptr);
}

}  // namespace lockstep

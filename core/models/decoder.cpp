#include "core/models/decoder.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <optional>
#include <string>

#include "core/error.h"
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault.h"
#endif

namespace lockstep {
namespace {

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// transformers' LlamaRMSNorm: in fp32, then back to the input dtype before
// the weight. x * x is the bits of x.pow(2) (ATen squares by multiplying)
// without an op that `lockstep scan` must flag for its fractional exponents.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor variance = (xf * xf).mean(-1, /*keepdim=*/true);
  return weight * (xf * at::rsqrt(variance + eps)).to(x.scalar_type());
}

// gelu_new / gelu_pytorch_tanh: 0.5 x (1 + tanh(u)) with
// u = sqrt(2/pi) (x + 0.044715 x^3), written as x * sigmoid(2u) (the same
// function) so that it runs on the invariant sigmoid kernel; stock tanh
// rounds the tail of each thread's chunk differently.
at::Tensor gelu_tanh(const at::Tensor& x) {
  const at::Tensor u = (x + x * x * x * 0.044715) * 1.5957691216057308;
  return x * at::sigmoid(u);
}

at::Tensor activation(const std::string& name, const at::Tensor& x) {
  if (name == "silu" || name == "swish") return at::silu(x);
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return gelu_tanh(x);
  if (name == "gelu") return at::gelu(x);
  if (name == "relu") return at::relu(x);
  throw bad_input("activation '" + name + "' is not supported");
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

}  // namespace

KvCache::KvCache(const ModelConfig& config, int64_t capacity, const at::TensorOptions& options)
    : capacity_(capacity) {
  for (int64_t i = 0; i < config.n_layers; ++i) {
    keys_.push_back(at::empty({config.n_kv_heads, capacity, config.head_dim}, options));
    values_.push_back(at::empty({config.n_kv_heads, capacity, config.head_dim}, options));
  }
}

KvCache DecoderModel::new_cache(int64_t capacity) const {
  return KvCache(config_, capacity, at::TensorOptions().dtype(options_.dtype).device(options_.device));
}

at::Tensor DecoderModel::norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
  if (config_.is_gpt2()) return at::layer_norm(x, {config_.hidden}, w, b, config_.norm_eps);
  return rms_norm(x, w, config_.norm_eps);
}

// x: [1, heads, T, head_dim] at positions pos0 .. pos0+T-1.
at::Tensor DecoderModel::rope(const at::Tensor& x, int64_t pos0) const {
  const int64_t t = x.size(2);
  const at::Tensor cos = rope_cos_.narrow(0, pos0, t).to(x.scalar_type());
  const at::Tensor sin = rope_sin_.narrow(0, pos0, t).to(x.scalar_type());
  return x * cos + rotate_half(x) * sin;
}

// x: [N, hidden], the rows of every segment one after another.
at::Tensor DecoderModel::attention(const Layer& layer, int64_t index, const at::Tensor& x,
                                   const std::vector<Segment>& segments) const {
  const ModelConfig& c = config_;
  const at::Tensor q_all = linear(x, layer.wq, layer.bq);
  const at::Tensor k_all = linear(x, layer.wk, layer.bk);
  const at::Tensor v_all = linear(x, layer.wv, layer.bv);
  std::vector<at::Tensor> outs;
  outs.reserve(segments.size());
  for (const Segment& s : segments) {
    const int64_t t = s.length, total = s.pos0 + t;
    // [1, heads, T, head_dim]
    at::Tensor q = q_all.narrow(0, s.offset, t).view({1, t, c.n_heads, c.head_dim});
    at::Tensor k = k_all.narrow(0, s.offset, t).view({1, t, c.n_kv_heads, c.head_dim});
    at::Tensor v = v_all.narrow(0, s.offset, t).view({1, t, c.n_kv_heads, c.head_dim}).transpose(1, 2);
    if (c.qk_norm) {
      q = rms_norm(q, layer.q_norm, c.norm_eps);
      k = rms_norm(k, layer.k_norm, c.norm_eps);
    }
    q = q.transpose(1, 2);
    k = k.transpose(1, 2);
    if (!c.is_gpt2()) {
      q = rope(q, s.pos0);
      k = rope(k, s.pos0);
    }
    if (s.cache != nullptr) {
      s.cache->keys_[index].narrow(1, s.pos0, t).copy_(k[0]);
      s.cache->values_[index].narrow(1, s.pos0, t).copy_(v[0]);
      k = s.cache->keys_[index].narrow(1, 0, total).unsqueeze(0);
      v = s.cache->values_[index].narrow(1, 0, total).unsqueeze(0);
    }
    // Query i sits at position pos0 + i and sees keys 0 .. pos0 + i (and,
    // with a sliding window w, only those with pos0 + i - key < w). SDPA's
    // is_causal is top-left aligned, right only when the queries start at 0;
    // a single query sees every cached key; otherwise an explicit mask.
    std::optional<at::Tensor> mask;
    bool causal = false;
    const bool windowed = c.sliding_window > 0 && total > c.sliding_window;
    if (windowed) {
      const at::Tensor rows = at::arange(s.pos0, total, at::kLong).unsqueeze(1);
      const at::Tensor cols = at::arange(0, total, at::kLong).unsqueeze(0);
      mask = ((cols <= rows) & (rows - cols < c.sliding_window)).to(x.device());
    } else if (t > 1 && s.pos0 == 0) {
      causal = true;
    } else if (t > 1) {
      mask = at::ones({t, total}, at::TensorOptions().dtype(at::kBool).device(x.device())).tril(s.pos0);
    }
    at::Tensor out = at::scaled_dot_product_attention(q, k, v, mask, 0.0, causal, std::nullopt, /*enable_gqa=*/true);
    outs.push_back(out[0].transpose(0, 1).reshape({t, c.n_heads * c.head_dim}));
  }
  const at::Tensor merged = outs.size() == 1 ? outs[0] : at::cat(outs, 0);
  return linear(merged, layer.wo, layer.bo);
}

at::Tensor DecoderModel::mlp(const Layer& layer, const at::Tensor& h) const {
  if (config_.is_gpt2()) {
    return linear(activation(config_.activation, linear(h, layer.w_up, layer.b_up)), layer.w_down, layer.b_down);
  }
  return linear(activation(config_.activation, linear(h, layer.w_gate, layer.b_gate)) * linear(h, layer.w_up, layer.b_up),
                layer.w_down, layer.b_down);
}

void DecoderModel::check_ids(const std::vector<int32_t>& ids) const {
  for (int32_t id : ids) {
    if (id < 0 || id >= config_.vocab) throw bad_input("token id " + std::to_string(id) + " is out of range");
  }
}

at::Tensor DecoderModel::run(const std::vector<int32_t>& ids, const std::vector<Segment>& segments,
                             bool last_only) const {
  check_ids(ids);
#ifdef LOCKSTEP_FAULT_INJECTION
  kernels::fault::set_step_sequences(static_cast<int64_t>(segments.size()));
#endif
  const at::Tensor index = at::tensor(ids, at::kInt).to(at::kLong).to(options_.device);
  at::Tensor x = embedding_.index_select(0, index);
  if (positions_.defined()) {
    std::vector<int64_t> pos;
    pos.reserve(ids.size());
    for (const Segment& s : segments) {
      for (int64_t i = 0; i < s.length; ++i) pos.push_back(s.pos0 + i);
    }
    x = x + positions_.index_select(0, at::tensor(pos, at::kLong).to(options_.device));
  }
  for (int64_t i = 0; i < config_.n_layers; ++i) {
    const Layer& layer = layers_[static_cast<size_t>(i)];
    x = x + attention(layer, i, norm(x, layer.norm1_w, layer.norm1_b), segments);
    x = x + mlp(layer, norm(x, layer.norm2_w, layer.norm2_b));
  }
  if (last_only) {
    std::vector<int64_t> last;
    for (const Segment& s : segments) last.push_back(s.offset + s.length - 1);
    x = x.index_select(0, at::tensor(last, at::kLong).to(options_.device));
  }
  at::Tensor logits = at::linear(norm(x, final_norm_w_, final_norm_b_), output_);
  return logits.to(at::kFloat).to(at::kCPU).contiguous();
}

at::Tensor DecoderModel::forward(const std::vector<int32_t>& ids, KvCache& cache) const {
  const int64_t t = static_cast<int64_t>(ids.size());
  if (t == 0) throw bad_input("forward: no tokens to run");
  if (cache.length_ + t > cache.capacity_ || cache.length_ + t > config_.context) {
    throw bad_input("sequence of " + std::to_string(cache.length_ + t) + " tokens exceeds the cache capacity " +
                    std::to_string(std::min(cache.capacity_, config_.context)));
  }
  const c10::InferenceMode inference;
  at::Tensor logits = run(ids, {Segment{0, t, cache.length_, &cache}}, /*last_only=*/false);
  cache.length_ += t;
  return logits;
}

at::Tensor DecoderModel::forward_last(const std::vector<SequenceChunk>& chunks) const {
  if (chunks.empty()) throw bad_input("forward_last: no sequences");
  std::vector<int32_t> ids;
  std::vector<Segment> segments;
  for (const SequenceChunk& chunk : chunks) {
    const int64_t t = static_cast<int64_t>(chunk.ids.size());
    KvCache* cache = chunk.cache;
    if (cache == nullptr || t == 0) throw bad_input("forward_last: a sequence without tokens or cache");
    for (const Segment& s : segments) {
      if (s.cache == cache) throw bad_input("forward_last: one cache used twice in a step");
    }
    if (cache->length_ + t > cache->capacity_ || cache->length_ + t > config_.context) {
      throw bad_input("sequence of " + std::to_string(cache->length_ + t) + " tokens exceeds the cache capacity " +
                      std::to_string(std::min(cache->capacity_, config_.context)));
    }
    segments.push_back(Segment{static_cast<int64_t>(ids.size()), t, cache->length_, cache});
    ids.insert(ids.end(), chunk.ids.begin(), chunk.ids.end());
  }
  const c10::InferenceMode inference;
  at::Tensor logits = run(ids, segments, /*last_only=*/true);
  for (const Segment& s : segments) s.cache->length_ += s.length;
  return logits;
}

at::Tensor DecoderModel::forward_batch(const std::vector<std::vector<int32_t>>& batch) const {
  if (batch.empty() || batch[0].empty()) throw bad_input("forward_batch: empty batch or sequence");
  const int64_t t = static_cast<int64_t>(batch[0].size());
  if (t > config_.context) throw bad_input("forward_batch: sequence longer than the context");
  std::vector<int32_t> ids;
  std::vector<Segment> segments;
  for (const auto& seq : batch) {
    if (static_cast<int64_t>(seq.size()) != t) throw bad_input("forward_batch: sequences must have equal length");
    segments.push_back(Segment{static_cast<int64_t>(ids.size()), t, 0, nullptr});
    ids.insert(ids.end(), seq.begin(), seq.end());
  }
  const c10::InferenceMode inference;
  return run(ids, segments, /*last_only=*/false).view({static_cast<int64_t>(batch.size()), t, config_.vocab});
}

}  // namespace lockstep

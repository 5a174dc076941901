#include "core/models/decoder.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/models/probe.h"
#include "kernels/fused.h"
#include "kernels/paged_attention.h"
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault.h"
#endif

namespace lockstep {
namespace {

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

// The gated MLP's activation(gate) * up; SwiGLU's as one fused kernel where one runs.
at::Tensor gated(const std::string& name, const at::Tensor& gate, const at::Tensor& up) {
  if (name == "silu" || name == "swish") return kernels::fused::silu_gate(gate, up);
  return activation(name, gate) * up;
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

}  // namespace

std::shared_ptr<KvPool> DecoderModel::new_pool(int64_t blocks, int64_t block_size) const {
  return std::make_shared<KvPool>(config_, blocks, block_size,
                                  at::TensorOptions().dtype(options_.dtype).device(options_.device));
}

KvCache DecoderModel::new_cache(int64_t capacity) const {
  if (capacity < 1) return KvCache();
  return KvCache(new_pool((capacity + KvPool::kDefaultBlockSize - 1) / KvPool::kDefaultBlockSize), capacity);
}

// What every layer of one step shares: the cache, the step's view of it, and
// the RoPE tables gathered at the tokens' positions (made by run()).
struct DecoderModel::Step {
  KvPool* pool = nullptr;
  kernels::PagedStep paged;
  at::Tensor cos, sin;   // [N, 1, head_dim] in the model's dtype (Llama family)
  std::vector<std::pair<ActivationProbe*, size_t>> probes;   // (probe, its sequence)
  const AttentionSeam* seam = nullptr;                        // run() with a seam
  // Hands each probe its sequence's rows of `x` (an op's output): [N, ...]
  // with every token's row, or [sequences, ...] with each one's last token's.
  void probe(int64_t layer, const char* op, const at::Tensor& x) const {
    const bool every_token = x.size(0) == paged.tokens();
    for (const auto& [p, i] : probes) {
      const kernels::PagedStep::Sequence& s = paged.sequences()[i];
      if (every_token) {
        p->record(layer, op, x.narrow(0, s.offset, s.length), s.pos0);
      } else {
        p->record(layer, op, x.narrow(0, static_cast<int64_t>(i), 1), s.pos0 + s.length - 1);
      }
    }
  }
};

namespace {
// Layer `layer`'s queries [N, Hq, D] against the step's cache: what run() and attend() compute.
at::Tensor over_cache(const DecoderModel::Step& step, int64_t layer, const at::Tensor& q) {
  return kernels::paged_attention(q, step.pool->keys(layer), step.pool->values(layer), step.paged, std::nullopt);
}
}  // namespace

DecoderModel::StepHandle::StepHandle(std::unique_ptr<Step> step) : step_(std::move(step)) {}
DecoderModel::StepHandle::StepHandle(StepHandle&&) noexcept = default;
DecoderModel::StepHandle::~StepHandle() = default;
const kernels::PagedStep& DecoderModel::StepHandle::paged() const { return step_->paged; }

at::Tensor DecoderModel::norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
  if (config_.is_gpt2()) return at::layer_norm(x, {config_.hidden}, w, b, config_.norm_eps);
  return kernels::fused::rms_norm(x, w, config_.norm_eps);
}

at::Tensor DecoderModel::add_norm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& w,
                                  const at::Tensor& b) const {
  if (!delta.defined()) return norm(x, w, b);
  if (config_.is_gpt2()) {
    x = x + delta;
    return norm(x, w, b);
  }
  return kernels::fused::add_rms_norm(x, delta, w, config_.norm_eps);
}

// x: [N, hidden], the rows of every sequence one after another.
at::Tensor DecoderModel::attention(const Layer& layer, int64_t index, const at::Tensor& x, const Step& step) const {
  const ModelConfig& c = config_;
  const int64_t n = x.size(0);
  const int64_t qd = c.n_heads * c.head_dim, kvd = c.n_kv_heads * c.head_dim;
  at::Tensor q, k, v;
  if (layer.w_qkv.defined()) {
    const at::Tensor qkv = linear(x, layer.w_qkv, layer.b_qkv);
    q = qkv.narrow(1, 0, qd);
    k = qkv.narrow(1, qd, kvd);
    v = qkv.narrow(1, qd + kvd, kvd);
  } else {
    q = linear(x, layer.wq, layer.bq);
    k = linear(x, layer.wk, layer.bk);
    v = linear(x, layer.wv, layer.bv);
  }
  step.probe(index, "q", q);
  step.probe(index, "k", k);
  step.probe(index, "v", v);
  q = q.view({n, c.n_heads, c.head_dim});
  k = k.view({n, c.n_kv_heads, c.head_dim});
  v = v.view({n, c.n_kv_heads, c.head_dim});
  if (c.qk_norm) {
    q = kernels::fused::rms_norm(q, layer.q_norm, c.norm_eps);
    k = kernels::fused::rms_norm(k, layer.k_norm, c.norm_eps);
  }
  if (c.is_gpt2()) {
    step.paged.write(step.pool->keys(index), k);
    step.paged.write(step.pool->values(index), v);
  } else {
    q = kernels::fused::rope_write_kv(q, k, v, step.cos, step.sin, step.pool->keys(index), step.pool->values(index),
                                      step.paged);
  }
  step.probe(index, "q_rope", q);
  const at::Tensor out = step.seam != nullptr ? (*step.seam)(index, q) : over_cache(step, index, q);
  step.probe(index, "attention", out);
  return linear(out.reshape({n, c.n_heads * c.head_dim}), layer.wo, layer.bo);
}

at::Tensor DecoderModel::mlp(const Layer& layer, int64_t index, const at::Tensor& h, const Step& step) const {
  at::Tensor act;
  if (config_.is_gpt2()) {
    const at::Tensor up = linear(h, layer.w_up, layer.b_up);
    step.probe(index, "up", up);
    act = activation(config_.activation, up);
  } else if (layer.w_gate_up.defined()) {
    const at::Tensor gu = linear(h, layer.w_gate_up, layer.b_gate_up);
    step.probe(index, "gate_up", gu);
    act = gated(config_.activation, gu.narrow(1, 0, config_.ffn), gu.narrow(1, config_.ffn, config_.ffn));
  } else {
    const at::Tensor gate = linear(h, layer.w_gate, layer.b_gate);
    const at::Tensor up = linear(h, layer.w_up, layer.b_up);
    step.probe(index, "gate", gate);
    step.probe(index, "up", up);
    act = gated(config_.activation, gate, up);
  }
  step.probe(index, "act", act);
  return linear(act, layer.w_down, layer.b_down);
}

void DecoderModel::check_ids(const std::vector<int32_t>& ids) const {
  for (int32_t id : ids) {
    if (id < 0 || id >= config_.vocab) throw bad_input("token id " + std::to_string(id) + " is out of range");
  }
}

at::Tensor DecoderModel::run(const at::Tensor& index, Step& step, bool last_only, bool to_host) const {
#ifdef LOCKSTEP_FAULT_INJECTION
  kernels::fault::set_step_sequences(static_cast<int64_t>(step.paged.sequences().size()));
#endif
  if (!config_.is_gpt2()) {
    step.cos = rope_cos_.index_select(0, step.paged.positions()).to(options_.dtype).unsqueeze(1);
    step.sin = rope_sin_.index_select(0, step.paged.positions()).to(options_.dtype).unsqueeze(1);
  }
  at::Tensor x = embedding_.index_select(0, index);
  if (positions_.defined()) x = x + positions_.index_select(0, step.paged.positions());
  // The residual stream is x + delta; each add is folded into the norm that
  // reads its sum (one kernel for both where kernels/fused.h has one).
  // Probes see each op's output: the residual stream after each add comes
  // out of the norm that folds the add in.
  step.probe(-1, "embedding", x);
  at::Tensor delta;
  for (int64_t i = 0; i < config_.n_layers; ++i) {
    const Layer& layer = layers_[static_cast<size_t>(i)];
    const at::Tensor h = add_norm(x, delta, layer.norm1_w, layer.norm1_b);
    if (i > 0) step.probe(i - 1, "mlp_residual", x);
    step.probe(i, "attn_norm", h);
    delta = attention(layer, i, h, step);
    step.probe(i, "o_proj", delta);
    const at::Tensor h2 = add_norm(x, delta, layer.norm2_w, layer.norm2_b);
    step.probe(i, "attn_residual", x);
    step.probe(i, "mlp_norm", h2);
    delta = mlp(layer, i, h2, step);
    step.probe(i, "down", delta);
  }
  const auto& seqs = step.paged.sequences();
  if (last_only && step.paged.tokens() != static_cast<int64_t>(seqs.size())) {   // else every row is a last one
    std::vector<int64_t> last;
    for (const auto& s : seqs) last.push_back(s.offset + s.length - 1);
    const at::Tensor rows = kernels::upload(at::tensor(last, at::kLong), options_.device);
    x = x.index_select(0, rows);   // the add is row by row: selecting first changes no bits
    if (delta.defined()) delta = delta.index_select(0, rows);
  }
  const at::Tensor final = add_norm(x, delta, final_norm_w_, final_norm_b_);
  if (config_.n_layers > 0) step.probe(config_.n_layers - 1, "mlp_residual", x);
  step.probe(config_.n_layers, "final_norm", final);
  const at::Tensor logits = at::linear(final, output_).to(at::kFloat);
  step.probe(config_.n_layers, "logits", logits);
  return (to_host ? logits.to(at::kCPU) : logits).contiguous();
}

DecoderModel::StepHandle DecoderModel::prepare(const std::vector<SequenceChunk>& chunks, int64_t pad_to,
                                               int32_t pad_block, const kernels::PagedStep::Fixed* fixed) const {
  if (chunks.empty()) throw bad_input("forward: no sequences");
  std::vector<kernels::PagedStep::Sequence> seqs;
  KvPool* pool = chunks[0].cache != nullptr ? chunks[0].cache->pool().get() : nullptr;
  int64_t tokens = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SequenceChunk& chunk = chunks[i];
    const int64_t t = static_cast<int64_t>(chunk.ids.size());
    const KvCache* cache = chunk.cache;
    if (cache == nullptr || t == 0) throw bad_input("forward: a sequence without tokens or cache");
    for (size_t j = 0; j < i; ++j) {
      if (chunks[j].cache == cache) throw bad_input("forward: one cache used twice in a step");
    }
    if (cache->length_ + t > cache->capacity_ || cache->length_ + t > config_.context) {
      throw bad_input("sequence of " + std::to_string(cache->length_ + t) + " tokens exceeds the cache capacity " +
                      std::to_string(std::min(cache->capacity_, config_.context)));
    }
    if (cache->pool().get() != pool) throw bad_input("forward: the caches of one step must share one KV pool");
    check_ids(chunk.ids);
    seqs.push_back({tokens, t, cache->length_, cache->blocks_});
    tokens += t;
  }
  // Padding (a graph's bucket): one-token sequences at position 0 of a block
  // nobody else uses; their rows are computed and thrown away.
  for (int64_t i = static_cast<int64_t>(chunks.size()); i < pad_to; ++i) seqs.push_back({tokens++, 1, 0, {pad_block}});
  auto step = std::make_unique<Step>(Step{
      pool, kernels::PagedStep(std::move(seqs), pool->block_size(), config_.sliding_window, config_.n_kv_heads,
                               options_.device, fixed), {}, {}, {}, nullptr});
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i].probe != nullptr) step->probes.emplace_back(chunks[i].probe, i);
  }
  return StepHandle(std::move(step));
}

at::Tensor DecoderModel::run(const StepHandle& step, const at::Tensor& index, bool last_only,
                             const AttentionSeam& seam) const {
  const c10::InferenceMode inference;
  struct Seam {   // set for this run only, also when it throws
    Step& s;
    Seam(Step& step, const AttentionSeam& seam) : s(step) { s.seam = seam ? &seam : nullptr; }
    ~Seam() { s.seam = nullptr; }
  } set(*step.step_, seam);
  return run(index, *step.step_, last_only, /*to_host=*/false);
}

at::Tensor DecoderModel::attend(const StepHandle& step, int64_t layer, const at::Tensor& q) const {
  const c10::InferenceMode inference;
  return over_cache(*step.step_, layer, q);
}

void DecoderModel::advance(const std::vector<SequenceChunk>& chunks) const {
  for (const SequenceChunk& chunk : chunks) chunk.cache->length_ += static_cast<int64_t>(chunk.ids.size());
}

at::Tensor DecoderModel::step(const std::vector<SequenceChunk>& chunks, bool last_only, bool to_host,
                              const at::Tensor& ids) const {
  StepHandle handle = prepare(chunks, 0, 0, nullptr);
  at::Tensor index = ids;
  if (index.defined()) {
    if (index.dim() != 1 || index.size(0) != handle.step_->paged.tokens() || index.scalar_type() != at::kLong ||
        index.device().type() != options_.device.type()) {  // "cuda" and "cuda:0" alike
      throw bad_input("forward: the step's token ids must be int64 [tokens] on the model's device");
    }
  } else {
    std::vector<int64_t> host;
    for (const SequenceChunk& chunk : chunks) host.insert(host.end(), chunk.ids.begin(), chunk.ids.end());
    index = kernels::upload(at::tensor(host, at::kLong), options_.device);
  }
  const c10::InferenceMode inference;
  at::Tensor logits = run(index, *handle.step_, last_only, to_host);
  advance(chunks);
  return logits;
}

at::Tensor DecoderModel::forward(const std::vector<int32_t>& ids, KvCache& cache) const {
  if (ids.empty()) throw bad_input("forward: no tokens to run");
  return step({SequenceChunk{ids, &cache}}, /*last_only=*/false);
}

at::Tensor DecoderModel::forward_last(const std::vector<SequenceChunk>& chunks) const {
  return step(chunks, /*last_only=*/true);
}

at::Tensor DecoderModel::forward_last_on_device(const std::vector<SequenceChunk>& chunks, const at::Tensor& ids) const {
  return step(chunks, /*last_only=*/true, /*to_host=*/false, ids);
}

at::Tensor DecoderModel::forward_batch(const std::vector<std::vector<int32_t>>& batch) const {
  if (batch.empty() || batch[0].empty()) throw bad_input("forward_batch: empty batch or sequence");
  const int64_t t = static_cast<int64_t>(batch[0].size());
  if (t > config_.context) throw bad_input("forward_batch: sequence longer than the context");
  for (const auto& seq : batch) {
    if (static_cast<int64_t>(seq.size()) != t) throw bad_input("forward_batch: sequences must have equal length");
  }
  const auto b = static_cast<int64_t>(batch.size());
  const std::shared_ptr<KvPool> pool = new_pool(b * ((t + KvPool::kDefaultBlockSize - 1) / KvPool::kDefaultBlockSize));
  std::vector<KvCache> caches;
  std::vector<SequenceChunk> chunks;
  caches.reserve(batch.size());
  for (const auto& seq : batch) {
    caches.emplace_back(pool, t);
    chunks.push_back(SequenceChunk{seq, &caches.back()});
  }
  return step(chunks, /*last_only=*/false).view({b, t, config_.vocab});
}

}  // namespace lockstep

#include "core/models/gguf_source.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "core/weights/gguf.h"

namespace lockstep {

ModelConfig gguf_model_config(const gguf::File& file) {
  const std::string arch = file.get_string("general.architecture");
  if (arch != "llama") {
    throw bad_input(file.path() + ": GGUF architecture '" + arch +
                    "' is not supported (supported in GGUF: llama, which covers Llama 2/3, SmolLM2, "
                    "TinyLlama and Mistral; other families load from safetensors)");
  }
  ModelConfig c;
  c.model_type = "llama";
  c.n_layers = file.get_int("llama.block_count");
  c.hidden = file.get_int("llama.embedding_length");
  c.ffn = file.get_int("llama.feed_forward_length");
  c.n_heads = file.get_int("llama.attention.head_count");
  c.n_kv_heads = file.get_int("llama.attention.head_count_kv", c.n_heads);
  c.context = file.get_int("llama.context_length");
  c.rope_theta = file.get_float("llama.rope.freq_base", 10000.0);
  c.norm_eps = file.get_float("llama.attention.layer_norm_rms_epsilon", 1e-5);
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
  const std::string scaling = file.get_string("llama.rope.scaling.type", "none");
  if (scaling == "linear") {
    c.rope_scaling.type = "linear";
    c.rope_scaling.factor = file.get_float("llama.rope.scaling.factor");
    if (!(c.rope_scaling.factor > 0)) throw bad_input(file.path() + ": invalid rope scaling factor");
  } else if (scaling != "none") {
    throw bad_input(file.path() + ": RoPE scaling '" + scaling + "' is not supported in GGUF files");
  }
  const gguf::TensorInfo& embd = file.tensor("token_embd.weight");
  if (embd.dims.size() != 2) throw bad_input(file.path() + ": token_embd.weight is not a matrix");
  c.vocab = embd.dims[1];
  c.tied_embeddings = file.find("output.weight") == nullptr;
  if (!(c.rope_theta > 0) || !(c.norm_eps > 0)) throw bad_input(file.path() + ": invalid rope base or rms epsilon");
  return c;
}

GgufSource::GgufSource(const gguf::File& file, const ModelConfig& c) : file_(file) {
  auto add = [&](const std::string& hf, const std::string& gg, int64_t heads = 0) {
    const gguf::TensorInfo* info = file.find(gg);
    if (info == nullptr) return;
    entries_[hf] = Entry{gg, TensorMeta{info->shape(), std::string(gguf::type_name(info->type))}, heads};
  };
  add("model.embed_tokens.weight", "token_embd.weight");
  add("model.norm.weight", "output_norm.weight");
  add("lm_head.weight", "output.weight");
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string g = "blk." + std::to_string(i) + ".", h = "model.layers." + std::to_string(i) + ".";
    add(h + "input_layernorm.weight", g + "attn_norm.weight");
    add(h + "self_attn.q_proj.weight", g + "attn_q.weight", c.n_heads);
    add(h + "self_attn.k_proj.weight", g + "attn_k.weight", c.n_kv_heads);
    add(h + "self_attn.v_proj.weight", g + "attn_v.weight");
    add(h + "self_attn.o_proj.weight", g + "attn_output.weight");
    add(h + "post_attention_layernorm.weight", g + "ffn_norm.weight");
    add(h + "mlp.gate_proj.weight", g + "ffn_gate.weight");
    add(h + "mlp.up_proj.weight", g + "ffn_up.weight");
    add(h + "mlp.down_proj.weight", g + "ffn_down.weight");
  }
}

const std::string& GgufSource::origin() const { return file_.path(); }

std::vector<std::string> GgufSource::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

const TensorMeta* GgufSource::find(const std::string& name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second.meta;
}

void GgufSource::read_f32(const std::string& name, float* out) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) throw bad_input(file_.path() + ": tensor " + name + " is missing");
  const Entry& e = it->second;
  const gguf::TensorInfo& info = file_.tensor(e.gguf_name);
  if (e.unpermute_heads == 0) {
    file_.dequantize(info, out);
    return;
  }
  const std::vector<int64_t> shape = info.shape();
  if (shape.size() != 2 || shape[0] % (2 * e.unpermute_heads) != 0) {
    throw bad_input(file_.path() + ": tensor " + e.gguf_name + " cannot be split into " +
                    std::to_string(e.unpermute_heads) + " rotary heads");
  }
  at::Tensor raw = at::empty(shape, at::kFloat);
  file_.dequantize(info, raw.data_ptr<float>());
  const int64_t half = shape[0] / e.unpermute_heads / 2;
  at::from_blob(out, shape, at::kFloat)
      .copy_(raw.reshape({e.unpermute_heads, half, 2, shape[1]}).transpose(1, 2).reshape(shape));
}

}  // namespace lockstep

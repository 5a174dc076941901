// Builds a DecoderModel from named tensors (Hugging Face names) for each
// family: checks every tensor's shape against the config, converts to the
// requested dtype and device.
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/models/decoder.h"
#include "core/models/rope.h"
#include "kernels/mode.h"
#include "core/weights/tensor_source.h"

namespace lockstep {
namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

struct DecoderLoader {
  const ModelConfig& c;
  const TensorSource& src;
  DecoderModel& m;

  // The tensor `name` as fp32 on the CPU, checked against `expected`.
  void check(const std::string& name, const std::vector<int64_t>& expected) const {
    const TensorMeta* meta = src.find(name);
    if (meta == nullptr) throw bad_input(src.origin() + ": tensor " + name + " is missing");
    if (meta->shape != expected) {
      throw bad_input(src.origin() + ": tensor " + name + " has shape " + shape_str(meta->shape) + ", expected " +
                      shape_str(expected));
    }
  }
  at::Tensor read(const std::string& name, const std::vector<int64_t>& expected) const {
    check(name, expected);
    at::Tensor out = at::empty(expected, at::kFloat);
    src.read_f32(name, out.data_ptr<float>());
    return out;
  }
  at::Tensor place(const std::string& name, at::Tensor t) const {
    t = t.to(m.options_.device, m.options_.dtype).contiguous();
    m.params_.emplace_back(name, t);
    return t;
  }
  at::Tensor get(const std::string& name, const std::vector<int64_t>& expected) const {
    return place(name, read(name, expected));
  }
  at::Tensor get_if(bool wanted, const std::string& name, const std::vector<int64_t>& expected) const {
    return wanted ? get(name, expected) : at::Tensor();
  }

  // One weight (and bias) for several projections of one input (q/k/v,
  // gate/up), read straight into one tensor: one GEMM instead of several; the
  // parts are views of it under their own names. On CUDA the fused GEMM gives
  // each part the bits of its own (FusedCuda.FusedProjectionGemmEqualsSeparateGemms;
  // +23% tokens/s at batch 1 on an H100, core/PERF-history.md). LOCKSTEP_FUSE_PROJECTIONS=0
  // loads separate tensors instead (`whole` stays undefined), to measure the difference.
  static bool fuse_projections() {
    const char* v = std::getenv("LOCKSTEP_FUSE_PROJECTIONS");
    return v == nullptr || std::string(v) != "0";
  }
  void fused(at::Tensor& whole, const std::vector<std::pair<std::string, at::Tensor*>>& parts,
             const std::vector<int64_t>& rows, int64_t cols) const {
    auto shape = [&](int64_t r) { return cols > 0 ? std::vector<int64_t>{r, cols} : std::vector<int64_t>{r}; };
    if (!fuse_projections()) {
      for (size_t i = 0; i < parts.size(); ++i) *parts[i].second = get(parts[i].first, shape(rows[i]));
      return;
    }
    int64_t total = 0;
    for (int64_t r : rows) total += r;
    at::Tensor buffer = at::empty(shape(total), at::kFloat);
    int64_t at = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      check(parts[i].first, shape(rows[i]));
      src.read_f32(parts[i].first, buffer.narrow(0, at, rows[i]).data_ptr<float>());
      at += rows[i];
    }
    whole = buffer.to(m.options_.device, m.options_.dtype).contiguous();
    at = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      *parts[i].second = whole.narrow(0, at, rows[i]);
      m.params_.emplace_back(parts[i].first, *parts[i].second);
      at += rows[i];
    }
  }

  void llama() const {
    const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
    m.embedding_ = get("model.embed_tokens.weight", {c.vocab, c.hidden});
    for (int64_t i = 0; i < c.n_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      DecoderModel::Layer l;
      l.norm1_w = get(p + "input_layernorm.weight", {c.hidden});
      fused(l.w_qkv, {{p + "self_attn.q_proj.weight", &l.wq}, {p + "self_attn.k_proj.weight", &l.wk},
                      {p + "self_attn.v_proj.weight", &l.wv}}, {q_dim, kv_dim, kv_dim}, c.hidden);
      if (c.qkv_bias) {
        fused(l.b_qkv, {{p + "self_attn.q_proj.bias", &l.bq}, {p + "self_attn.k_proj.bias", &l.bk},
                        {p + "self_attn.v_proj.bias", &l.bv}}, {q_dim, kv_dim, kv_dim}, 0);
      }
      l.wo = get(p + "self_attn.o_proj.weight", {c.hidden, q_dim});
      l.bo = get_if(c.o_bias, p + "self_attn.o_proj.bias", {c.hidden});
      l.q_norm = get_if(c.qk_norm, p + "self_attn.q_norm.weight", {c.head_dim});
      l.k_norm = get_if(c.qk_norm, p + "self_attn.k_norm.weight", {c.head_dim});
      l.norm2_w = get(p + "post_attention_layernorm.weight", {c.hidden});
      fused(l.w_gate_up, {{p + "mlp.gate_proj.weight", &l.w_gate}, {p + "mlp.up_proj.weight", &l.w_up}},
            {c.ffn, c.ffn}, c.hidden);
      l.w_down = get(p + "mlp.down_proj.weight", {c.hidden, c.ffn});
      if (c.mlp_bias) {
        fused(l.b_gate_up, {{p + "mlp.gate_proj.bias", &l.b_gate}, {p + "mlp.up_proj.bias", &l.b_up}}, {c.ffn, c.ffn}, 0);
      }
      l.b_down = get_if(c.mlp_bias, p + "mlp.down_proj.bias", {c.hidden});
      m.layers_.push_back(std::move(l));
    }
    m.final_norm_w_ = get("model.norm.weight", {c.hidden});
    m.output_ = c.tied_embeddings ? m.embedding_ : get("lm_head.weight", {c.vocab, c.hidden});
  }

  // GPT-2 checkpoints name tensors with or without "transformer."; its
  // Conv1D weights are stored [in, out] and transposed here.
  void gpt2() const {
    const std::string t = src.find("transformer.wte.weight") != nullptr ? "transformer." : "";
    const int64_t h = c.hidden;
    m.embedding_ = get(t + "wte.weight", {c.vocab, h});
    m.positions_ = get(t + "wpe.weight", {c.context, h});
    auto conv = [&](const std::string& name, int64_t in, int64_t out) { return read(name, {in, out}).t(); };
    for (int64_t i = 0; i < c.n_layers; ++i) {
      const std::string p = t + "h." + std::to_string(i) + ".";
      DecoderModel::Layer l;
      l.norm1_w = get(p + "ln_1.weight", {h});
      l.norm1_b = get(p + "ln_1.bias", {h});
      const at::Tensor qkv = conv(p + "attn.c_attn.weight", h, 3 * h);
      const at::Tensor qkv_b = read(p + "attn.c_attn.bias", {3 * h});
      l.wq = place(p + "attn.q.weight", qkv.narrow(0, 0, h));
      l.wk = place(p + "attn.k.weight", qkv.narrow(0, h, h));
      l.wv = place(p + "attn.v.weight", qkv.narrow(0, 2 * h, h));
      l.bq = place(p + "attn.q.bias", qkv_b.narrow(0, 0, h));
      l.bk = place(p + "attn.k.bias", qkv_b.narrow(0, h, h));
      l.bv = place(p + "attn.v.bias", qkv_b.narrow(0, 2 * h, h));
      l.wo = place(p + "attn.c_proj.weight", conv(p + "attn.c_proj.weight", h, h));
      l.bo = get(p + "attn.c_proj.bias", {h});
      l.norm2_w = get(p + "ln_2.weight", {h});
      l.norm2_b = get(p + "ln_2.bias", {h});
      l.w_up = place(p + "mlp.c_fc.weight", conv(p + "mlp.c_fc.weight", h, c.ffn));
      l.b_up = get(p + "mlp.c_fc.bias", {c.ffn});
      l.w_down = place(p + "mlp.c_proj.weight", conv(p + "mlp.c_proj.weight", c.ffn, h));
      l.b_down = get(p + "mlp.c_proj.bias", {h});
      m.layers_.push_back(std::move(l));
    }
    m.final_norm_w_ = get(t + "ln_f.weight", {h});
    m.final_norm_b_ = get(t + "ln_f.bias", {h});
    m.output_ = c.tied_embeddings ? m.embedding_ : get("lm_head.weight", {c.vocab, h});
  }
};

DecoderModel DecoderModel::load(const ModelConfig& config, const TensorSource& weights, const LoadOptions& options) {
  if (options.dtype != at::kFloat && options.dtype != at::kBFloat16 && options.dtype != at::kHalf) {
    throw bad_input("model dtype must be fp32, bf16 or fp16");
  }
  if (options.device.is_cpu() && options.dtype == at::kHalf) {
    throw bad_input("fp16 runs on CUDA only; use fp32 or bf16 on the CPU");
  }
  if (!options.device.is_cpu() && !options.device.is_cuda()) throw bad_input("device must be cpu or cuda");
  if (config.n_layers <= 0 || config.hidden <= 0 || config.vocab <= 0 || config.head_dim <= 0 ||
      config.n_kv_heads <= 0 || config.n_heads % config.n_kv_heads != 0) {
    throw bad_input(weights.origin() + ": inconsistent model config");
  }
  // Portable mode's kernels are fp32 and cover the Llama family (RMSNorm, SiLU, RoPE); refuse
  // what they cannot compute here, at load, rather than at the first unsupported op.
  const bool portable = kernels::mode() == kernels::Mode::portable;
  if (portable && options.dtype != at::kFloat) {
    throw bad_input("portable mode computes in fp32 only: run it with --dtype fp32");
  }
  if (portable && config.is_gpt2()) {
    throw bad_input("portable mode covers Llama-family models; GPT-2 (LayerNorm, GELU) is not implemented in it");
  }
  DecoderModel m;
  m.config_ = config;
  m.options_ = options;
  DecoderLoader loader{m.config_, weights, m};
  if (config.is_gpt2()) {
    loader.gpt2();
  } else {
    if (config.head_dim % 2 != 0) throw bad_input(weights.origin() + ": odd head dimension");
    loader.llama();
    auto [cos, sin] = rope_tables(config, config.context, portable);
    m.rope_cos_ = cos.to(options.device);
    m.rope_sin_ = sin.to(options.device);
  }
  return m;
}

}  // namespace lockstep

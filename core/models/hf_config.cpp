#include "core/models/hf_config.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/util/path_kind.h"

namespace lockstep {
namespace {

using nlohmann::json;

// Plausibility bounds: far above any released model, low enough that the
// products the model computes from them (hidden * vocab, heads * head_dim)
// cannot overflow int64.
constexpr int64_t kMaxLayers = 1 << 12;
constexpr int64_t kMaxDim = 1 << 20;       // hidden, ffn, head_dim, heads
constexpr int64_t kMaxVocab = 1 << 24;
constexpr int64_t kMaxContext = int64_t{1} << 28;

const char* const kActivations[] = {"silu", "swish", "gelu", "gelu_new", "gelu_pytorch_tanh",
                                    "relu"};

std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// Typed access to one JSON object; `where` prefixes every error. For
// optional keys, an explicit null means the same as an absent key (HF writes
// "n_inner": null, "sliding_window": null, "head_dim": null).
class Fields {
 public:
  Fields(const json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  bool present(const char* key) const { return obj_.contains(key) && !obj_[key].is_null(); }
  const json& at(const char* key) const {
    if (!obj_.contains(key)) fail(key, "is missing");
    if (obj_[key].is_null()) fail(key, "is null");
    return obj_[key];
  }

  int64_t integer(const char* key, int64_t lo, int64_t hi) const {
    const json& v = at(key);
    int64_t out = 0;
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      out = u > static_cast<uint64_t>(hi) ? hi + 1 : static_cast<int64_t>(u);
    } else if (v.is_number_integer()) {
      out = v.get<int64_t>();
    } else {
      fail(key, "must be an integer, got " + shown(v));
    }
    if (out < lo || out > hi) {
      fail(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                    shown(v));
    }
    return out;
  }
  int64_t integer(const char* key, int64_t lo, int64_t hi, int64_t fallback) const {
    return present(key) ? integer(key, lo, hi) : fallback;
  }

  // A finite number in (lo, hi]; integers are accepted ("rope_theta": 100000).
  double number(const char* key, double lo, double hi) const {
    const json& v = at(key);
    if (!v.is_number()) fail(key, "must be a number, got " + shown(v));
    const double d = v.get<double>();
    if (!std::isfinite(d) || !(d > lo) || d > hi) {
      fail(key, "must be in (" + num(lo) + ", " + num(hi) + "], got " + shown(v));
    }
    return d;
  }
  double number(const char* key, double lo, double hi, double fallback) const {
    return present(key) ? number(key, lo, hi) : fallback;
  }

  bool boolean(const char* key, bool fallback) const {
    if (!present(key)) return fallback;
    const json& v = at(key);
    if (!v.is_boolean()) fail(key, "must be true or false, got " + shown(v));
    return v.get<bool>();
  }

  std::string string(const char* key) const {
    const json& v = at(key);
    if (!v.is_string()) fail(key, "must be a string, got " + shown(v));
    return v.get<std::string>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    return present(key) ? string(key) : fallback;
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw bad_input(where_ + ": '" + key + "' " + what);
  }
  [[noreturn]] void fail(const std::string& what) const { throw bad_input(where_ + ": " + what); }
  const std::string& where() const { return where_; }

 private:
  static std::string num(double d) {
    std::ostringstream s;
    s << d;
    return s.str();
  }
  const json& obj_;
  std::string where_;
};

std::string activation(const Fields& f, const char* key, const std::string& fallback) {
  const std::string act = f.string(key, fallback);
  for (const char* known : kActivations) {
    if (act == known) return act;
  }
  std::string list;
  for (const char* known : kActivations) list += std::string(list.empty() ? "" : ", ") + known;
  f.fail(key, "is '" + act + "'; supported activations: " + list);
}

// Token ids: an int, a list of ints (eos_token_id), or null.
std::vector<int32_t> token_ids(const Fields& f, const json& root, const char* key, int64_t vocab) {
  std::vector<int32_t> ids;
  if (!f.present(key)) return ids;
  const json& v = root[key];
  const json items = v.is_array() ? v : json::array({v});
  for (const json& item : items) {
    if (!item.is_number_integer() || item.get<int64_t>() < 0 || item.get<int64_t>() >= vocab) {
      f.fail(key, "must be a token id in [0, vocab_size = " + std::to_string(vocab) +
                      ") or a list of them, got " + shown(v));
    }
    ids.push_back(static_cast<int32_t>(item.get<int64_t>()));
  }
  return ids;
}

// RoPE: transformers 5 writes "rope_parameters" {rope_type, rope_theta, ...};
// transformers 4 wrote "rope_theta" and an optional "rope_scaling" {type or
// rope_type, ...}. Both spellings land here.
void read_rope(const json& root, const Fields& top, ModelConfig& c) {
  c.rope_theta = top.number("rope_theta", 0.0, 1e12, 10000.0);
  const char* key = top.present("rope_parameters") ? "rope_parameters"
                    : top.present("rope_scaling") ? "rope_scaling"
                                                  : nullptr;
  if (key == nullptr) return;
  const json& params = root[key];
  if (!params.is_object()) top.fail(key, "must be an object or null, got " + shown(params));
  const Fields p(params, top.where() + ": '" + key + "'");
  if (p.present("rope_theta")) c.rope_theta = p.number("rope_theta", 0.0, 1e12);
  if (p.present("partial_rotary_factor") && p.number("partial_rotary_factor", 0.0, 1.0) != 1.0) {
    p.fail("partial_rotary_factor", "other than 1 is not supported");
  }
  std::string type = p.present("rope_type") ? p.string("rope_type") : p.string("type", "default");
  RopeScaling& s = c.rope_scaling;
  if (type == "default") {
    s.type = "none";
  } else if (type == "linear") {
    s.type = "linear";
    s.factor = p.number("factor", 0.0, 1e6);
  } else if (type == "llama3") {
    s.type = "llama3";
    s.factor = p.number("factor", 0.0, 1e6);
    s.low_freq_factor = p.number("low_freq_factor", 0.0, 1e6);
    s.high_freq_factor = p.number("high_freq_factor", 0.0, 1e6);
    if (!(s.high_freq_factor > s.low_freq_factor)) {
      p.fail("high_freq_factor", "must exceed low_freq_factor");
    }
    s.original_max_positions =
        p.integer("original_max_position_embeddings", 1, kMaxContext);
  } else {
    p.fail("rope type '" + type + "' is not supported (supported: default, linear, llama3)");
  }
}

// Heads and head_dim of an attention with grouped-query heads and RoPE.
// Without a head_dim key: `default_head_dim`, or hidden / heads when 0.
void read_heads(const Fields& f, ModelConfig& c, int64_t default_head_dim) {
  c.n_heads = f.integer("num_attention_heads", 1, kMaxDim);
  c.n_kv_heads = f.integer("num_key_value_heads", 1, kMaxDim, c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0) {
    f.fail("num_attention_heads (" + std::to_string(c.n_heads) +
           ") is not a multiple of num_key_value_heads (" + std::to_string(c.n_kv_heads) + ")");
  }
  if (f.present("head_dim")) {
    c.head_dim = f.integer("head_dim", 1, kMaxDim);
  } else if (default_head_dim > 0) {
    c.head_dim = default_head_dim;
  } else {
    if (c.hidden % c.n_heads != 0) {
      f.fail("hidden_size (" + std::to_string(c.hidden) + ") is not a multiple of " +
             "num_attention_heads (" + std::to_string(c.n_heads) + ") and no head_dim is given");
    }
    c.head_dim = c.hidden / c.n_heads;
  }
  if (c.head_dim % 2 != 0) f.fail("head_dim", "must be even for RoPE, got " + std::to_string(c.head_dim));
  if (c.n_heads * c.head_dim > kMaxDim) {
    f.fail("num_attention_heads * head_dim = " + std::to_string(c.n_heads * c.head_dim) +
           " is implausibly large");
  }
}

// Qwen2/Qwen3: sliding attention only on the layers layer_types (or, in
// transformers 4 configs, max_window_layers) marks, and only when
// use_sliding_window is set. ModelConfig holds one window for all layers,
// so a mix of sliding and full layers is rejected.
void read_qwen_window(const json& root, const Fields& f, ModelConfig& c) {
  const bool use = f.boolean("use_sliding_window", false);
  const int64_t window = use ? f.integer("sliding_window", 0, kMaxContext, 0) : 0;
  std::vector<bool> sliding(static_cast<size_t>(c.n_layers), false);
  if (f.present("layer_types")) {
    const json& types = root["layer_types"];
    if (!types.is_array() || types.size() != static_cast<size_t>(c.n_layers)) {
      f.fail("layer_types", "must be a list of num_hidden_layers strings");
    }
    for (size_t i = 0; i < types.size(); ++i) {
      const json& t = types[i];
      if (t == "sliding_attention") {
        sliding[i] = true;
      } else if (t != "full_attention") {
        f.fail("layer_types", "entry " + std::to_string(i) + " is " + shown(t) +
                                  " (expected \"full_attention\" or \"sliding_attention\")");
      }
    }
  } else {
    const int64_t first = f.integer("max_window_layers", 0, kMaxLayers, c.n_layers);
    for (int64_t i = first; i < c.n_layers; ++i) sliding[static_cast<size_t>(i)] = true;
  }
  if (window == 0) return;  // no window: every layer attends fully
  size_t n_sliding = 0;
  for (bool s : sliding) n_sliding += s ? 1 : 0;
  if (n_sliding == 0) return;
  if (n_sliding != sliding.size()) {
    f.fail("sliding attention on " + std::to_string(n_sliding) + " of " +
           std::to_string(sliding.size()) + " layers is not supported (one window for all or none)");
  }
  c.sliding_window = window;
}

void read_gpt2(const Fields& f, ModelConfig& c) {
  c.n_layers = f.integer("n_layer", 1, kMaxLayers);
  c.hidden = f.integer("n_embd", 1, kMaxDim);
  c.n_heads = f.integer("n_head", 1, kMaxDim);
  if (c.hidden % c.n_heads != 0) {
    f.fail("n_embd (" + std::to_string(c.hidden) + ") is not a multiple of n_head (" +
           std::to_string(c.n_heads) + ")");
  }
  c.n_kv_heads = c.n_heads;
  c.head_dim = c.hidden / c.n_heads;
  c.ffn = f.integer("n_inner", 1, kMaxDim, 4 * c.hidden);
  c.vocab = f.integer("vocab_size", 1, kMaxVocab);
  c.context = f.integer("n_positions", 1, kMaxContext);
  c.norm_eps = f.number("layer_norm_epsilon", 0.0, 1.0, 1e-5);
  c.activation = activation(f, "activation_function", "gelu_new");
  c.tied_embeddings = f.boolean("tie_word_embeddings", true);
  c.qkv_bias = c.o_bias = c.mlp_bias = true;  // GPT-2 biases every projection
  if (!f.boolean("scale_attn_weights", true)) f.fail("scale_attn_weights", "false is not supported");
  if (f.boolean("scale_attn_by_inverse_layer_idx", false)) {
    f.fail("scale_attn_by_inverse_layer_idx", "true is not supported");
  }
  if (f.boolean("add_cross_attention", false)) f.fail("add_cross_attention", "true is not supported");
}

// llama, mistral, qwen2, qwen3: the shared keys.
void read_llama_like(const json& root, const Fields& f, ModelConfig& c) {
  c.n_layers = f.integer("num_hidden_layers", 1, kMaxLayers);
  c.hidden = f.integer("hidden_size", 1, kMaxDim);
  c.ffn = f.integer("intermediate_size", 1, kMaxDim);
  c.vocab = f.integer("vocab_size", 1, kMaxVocab);
  c.context = f.integer("max_position_embeddings", 1, kMaxContext);
  c.norm_eps = f.number("rms_norm_eps", 0.0, 1.0, 1e-6);
  c.activation = activation(f, "hidden_act", "silu");
  c.tied_embeddings = f.boolean("tie_word_embeddings", false);
  // Qwen3Config's head_dim defaults to 128; the others derive it.
  read_heads(f, c, c.model_type == "qwen3" ? 128 : 0);
  read_rope(root, f, c);
}

}  // namespace

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> types = {"gpt2", "llama", "mistral", "qwen2", "qwen3"};
  return types;
}

ModelConfig parse_hf_config(const std::string& json_text, const std::string& origin) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw bad_input(origin + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) throw bad_input(origin + ": not a JSON object");
  const Fields f(root, origin);
  ModelConfig c;
  c.model_type = f.string("model_type");
  const std::string& t = c.model_type;
  if (t == "gpt2") {
    read_gpt2(f, c);
  } else if (t == "llama" || t == "mistral" || t == "qwen2" || t == "qwen3") {
    read_llama_like(root, f, c);
    if (t == "llama") {
      c.qkv_bias = c.o_bias = f.boolean("attention_bias", false);
      c.mlp_bias = f.boolean("mlp_bias", false);
    } else if (t == "mistral") {
      c.sliding_window = f.integer("sliding_window", 1, kMaxContext, 0);
    } else if (t == "qwen2") {
      c.qkv_bias = true;  // Qwen2 biases q, k and v but not o_proj
      read_qwen_window(root, f, c);
    } else {
      c.qkv_bias = c.o_bias = f.boolean("attention_bias", false);
      c.qk_norm = true;
      read_qwen_window(root, f, c);
    }
  } else {
    std::string list;
    for (const std::string& s : supported_model_types()) list += (list.empty() ? "" : ", ") + s;
    f.fail("model_type", "is '" + t + "'; supported: " + list);
  }
  if (c.ffn > kMaxDim) f.fail("intermediate size " + std::to_string(c.ffn) + " is implausibly large");
  const std::vector<int32_t> bos = token_ids(f, root, "bos_token_id", c.vocab);
  if (bos.size() > 1) f.fail("bos_token_id", "must be a single token id");
  c.bos_id = bos.empty() ? -1 : bos[0];
  c.eos_ids = token_ids(f, root, "eos_token_id", c.vocab);
  return c;
}

ModelConfig read_hf_config(const std::string& path) {
  std::string file = path;
  if (path_kind(path) == PathKind::directory) {
    file = path + (path.empty() || path.back() == '/' ? "" : "/") + "config.json";
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw environment_error(file + ": cannot open model config");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw environment_error(file + ": cannot read model config");
  return parse_hf_config(text.str(), file);
}

}  // namespace lockstep

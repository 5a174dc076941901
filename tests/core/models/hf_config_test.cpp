#include "core/models/hf_config.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/core/models/model_shape.h"
#include "tests/core/weights/safetensors_builder.h"

namespace lockstep {
namespace {

using testing_support::expect_shape;

// The config.json files of the real checkpoints, as published on the Hub.
const char* const kLlama32_1B = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256})";

const char* const kLlama32_1B_Instruct_Eos = R"({
  "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
  "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "vocab_size": 128256,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true})";

const char* const kSmolLM2_135M = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576,
  "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "is_llama_config": true,
  "max_position_embeddings": 8192, "model_type": "llama", "num_attention_heads": 9,
  "num_hidden_layers": 30, "num_key_value_heads": 3, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_interleaved": false, "rope_scaling": null, "rope_theta": 100000,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.40.1",
  "use_cache": true, "vocab_size": 49152})";

const char* const kTinyLlama = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 1,
  "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
  "intermediate_size": 5632, "max_position_embeddings": 2048, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 22, "num_key_value_heads": 4,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.35.0",
  "use_cache": true, "vocab_size": 32000})";

const char* const kQwen25_05B = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 151936})";

const char* const kQwen3_06B = R"({
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
  "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
  "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
  "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.51.0",
  "use_cache": true, "use_sliding_window": false, "vocab_size": 151936})";

const char* const kMistral7B = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0",
  "use_cache": true, "vocab_size": 32000})";

const char* const kMistral7B_Instruct_v02 = R"({
  "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
  "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "sliding_window": null,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.36.0",
  "use_cache": true, "vocab_size": 32000})";

const char* const kGpt2 = R"({
  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
  "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
  "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": null,
  "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
  "summary_use_proj": true,
  "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
  "vocab_size": 50257})";

// What transformers 5 writes: rope_parameters instead of rope_theta/rope_scaling.
const char* const kLlamaTransformers5 = R"({
  "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
  "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
  "max_position_embeddings": 2048, "rms_norm_eps": 1e-06, "vocab_size": 300, "head_dim": null,
  "bos_token_id": 1, "eos_token_id": 2, "attention_bias": true, "mlp_bias": true,
  "rope_parameters": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                      "original_max_position_embeddings": 256, "rope_theta": 500000.0,
                      "rope_type": "llama3"},
  "tie_word_embeddings": false, "transformers_version": "5.23.0"})";

ModelConfig parse(const std::string& text) { return parse_hf_config(text, "config.json"); }

void expect_bad(const std::string& text, const std::vector<std::string>& parts) {
  try {
    parse_hf_config(text, "some/config.json");
    ADD_FAILURE() << "expected bad_input for " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input) << e.what();
    EXPECT_NE(std::string(e.what()).find("some/config.json"), std::string::npos) << e.what();
    for (const std::string& p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message '" << e.what() << "' lacks '" << p << "'";
    }
  }
}

// `base` with the top-level `key` set to the raw JSON `value`: an existing
// value is replaced in place, a missing key is appended.
std::string with(std::string base, const std::string& key, const std::string& value) {
  const std::string needle = "\"" + key + "\":";
  size_t at = base.find(needle);
  if (at != std::string::npos) {
    // Replace the existing value up to the next top-level ',' or '}'.
    size_t start = at + needle.size();
    int depth = 0;
    size_t end = start;
    for (; end < base.size(); ++end) {
      const char ch = base[end];
      if (ch == '{' || ch == '[') ++depth;
      if (ch == '}' || ch == ']') {
        if (depth == 0) break;
        --depth;
      }
      if (ch == ',' && depth == 0) break;
    }
    return base.substr(0, start) + " " + value + base.substr(end);
  }
  const size_t close = base.rfind('}');
  return base.substr(0, close) + ", \"" + key + "\": " + value + "}";
}

TEST(HfConfig, Llama32_1B) {
  const ModelConfig c = parse(kLlama32_1B);
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_FALSE(c.is_gpt2());
  expect_shape(c, {16, 2048, 8192, 32, 8, 64, 128256, 131072});
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_positions, 8192);
  EXPECT_EQ(c.norm_eps, 1e-5);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.activation, "silu");
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.bos_id, 128000);
  EXPECT_EQ(c.eos_ids, (std::vector<int32_t>{128001}));
}

TEST(HfConfig, EosListAndDefaults) {
  const ModelConfig c = parse(kLlama32_1B_Instruct_Eos);
  EXPECT_EQ(c.eos_ids, (std::vector<int32_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.head_dim, 64);  // derived: 2048 / 32
  EXPECT_EQ(c.activation, "silu");
}

TEST(HfConfig, SmolLM2_135M) {
  const ModelConfig c = parse(kSmolLM2_135M);
  EXPECT_EQ(c.model_type, "llama");
  expect_shape(c, {30, 576, 0, 9, 3, 64});
  EXPECT_EQ(c.rope_theta, 100000.0);  // written as an integer
  EXPECT_EQ(c.rope_scaling.type, "none");
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.bos_id, 0);
  EXPECT_EQ(c.eos_ids, (std::vector<int32_t>{0}));
}

TEST(HfConfig, TinyLlama) {
  const ModelConfig c = parse(kTinyLlama);
  expect_shape(c, {22, 0, 5632, 0, 4, 64, 0, 2048});
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.rope_theta, 10000.0);
}

TEST(HfConfig, Qwen25_05B) {
  const ModelConfig c = parse(kQwen25_05B);
  EXPECT_EQ(c.model_type, "qwen2");
  expect_shape(c, {24, 896, 0, 14, 2, 64});
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.norm_eps, 1e-6);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.sliding_window, 0);  // use_sliding_window is false
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.eos_ids, (std::vector<int32_t>{151643}));
}

TEST(HfConfig, Qwen2SlidingWindow) {
  // Every layer slides (max_window_layers 0): one window for all layers.
  std::string all = with(with(kQwen25_05B, "use_sliding_window", "true"), "max_window_layers", "0");
  EXPECT_EQ(parse(all).sliding_window, 32768);
  // Layers from max_window_layers on slide: with 24 of 24 full, none do.
  EXPECT_EQ(parse(with(kQwen25_05B, "use_sliding_window", "true")).sliding_window, 0);
  // A mix is not representable.
  expect_bad(with(with(kQwen25_05B, "use_sliding_window", "true"), "max_window_layers", "12"),
             {"sliding attention on 12 of 24 layers"});
  // transformers 5 spells it with layer_types.
  std::string types = "[";
  for (int i = 0; i < 24; ++i) types += std::string(i ? "," : "") + "\"sliding_attention\"";
  types += "]";
  EXPECT_EQ(parse(with(with(kQwen25_05B, "use_sliding_window", "true"), "layer_types", types))
                .sliding_window,
            32768);
  EXPECT_EQ(parse(with(kQwen25_05B, "layer_types", types)).sliding_window, 0);  // flag off
  expect_bad(with(kQwen25_05B, "layer_types", "[\"full_attention\"]"),
             {"'layer_types'", "num_hidden_layers"});
  std::string odd = types;
  odd.replace(odd.find("sliding_attention"), 17, "chunked_attention");
  expect_bad(with(kQwen25_05B, "layer_types", odd), {"entry 0", "chunked_attention"});
}

TEST(HfConfig, Qwen3_06B) {
  const ModelConfig c = parse(kQwen3_06B);
  EXPECT_EQ(c.model_type, "qwen3");
  expect_shape(c, {28, 1024, 0, 16, 8, 128});  // head_dim apart from hidden / heads = 64
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_EQ(c.context, 40960);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.bos_id, 151643);
  EXPECT_EQ(c.eos_ids, (std::vector<int32_t>{151645}));
  const ModelConfig biased = parse(with(kQwen3_06B, "attention_bias", "true"));
  EXPECT_TRUE(biased.qkv_bias);
  EXPECT_TRUE(biased.o_bias);
}

TEST(HfConfig, Qwen3HeadDimDefaultsTo128) {
  std::string text = kQwen3_06B;
  text.erase(text.find("\"head_dim\": 128, "), 17);
  ASSERT_EQ(text.find("head_dim"), std::string::npos);
  EXPECT_EQ(parse(text).head_dim, 128);
}

TEST(HfConfig, Mistral) {
  const ModelConfig c = parse(kMistral7B);
  EXPECT_EQ(c.model_type, "mistral");
  expect_shape(c, {0, 0, 14336, 0, 8, 128});
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.tied_embeddings);
  const ModelConfig v2 = parse(kMistral7B_Instruct_v02);
  EXPECT_EQ(v2.sliding_window, 0);  // null: full attention
  EXPECT_EQ(v2.rope_theta, 1e6);
}

TEST(HfConfig, Gpt2) {
  const ModelConfig c = parse(kGpt2);
  EXPECT_TRUE(c.is_gpt2());
  expect_shape(c, {12, 768, 3072, 12, 12, 64, 50257, 1024});  // ffn: n_inner absent, 4 * n_embd
  EXPECT_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.activation, "gelu_new");
  EXPECT_TRUE(c.tied_embeddings);  // GPT-2's default
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.o_bias);
  EXPECT_TRUE(c.mlp_bias);
  EXPECT_EQ(c.bos_id, 50256);
  EXPECT_EQ(c.eos_ids, (std::vector<int32_t>{50256}));
  EXPECT_EQ(parse(with(kGpt2, "n_inner", "null")).ffn, 3072);
  EXPECT_EQ(parse(with(kGpt2, "n_inner", "1000")).ffn, 1000);
  EXPECT_FALSE(parse(with(kGpt2, "tie_word_embeddings", "false")).tied_embeddings);
  expect_bad(with(kGpt2, "scale_attn_by_inverse_layer_idx", "true"),
             {"scale_attn_by_inverse_layer_idx"});
  expect_bad(with(kGpt2, "n_head", "7"), {"n_embd (768) is not a multiple of n_head (7)"});
  expect_bad(with(kGpt2, "activation_function", "\"mish\""), {"'activation_function'", "mish"});
}

TEST(HfConfig, Transformers5RopeParameters) {
  const ModelConfig c = parse(kLlamaTransformers5);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_EQ(c.rope_scaling.original_max_positions, 256);
  EXPECT_EQ(c.head_dim, 16);  // null head_dim: derived
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.o_bias);
  EXPECT_TRUE(c.mlp_bias);
  const ModelConfig plain =
      parse(with(kLlamaTransformers5, "rope_parameters", R"({"rope_theta": 10000.0, "rope_type": "default"})"));
  EXPECT_EQ(plain.rope_scaling.type, "none");
  EXPECT_EQ(plain.rope_theta, 10000.0);
}

TEST(HfConfig, LinearRopeScaling) {
  const ModelConfig c = parse(with(kTinyLlama, "rope_scaling", R"({"type": "linear", "factor": 2.0})"));
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.rope_scaling.factor, 2.0);
  expect_bad(with(kTinyLlama, "rope_scaling", R"({"type": "linear"})"), {"'factor' is missing"});
  expect_bad(with(kTinyLlama, "rope_scaling", R"({"type": "dynamic", "factor": 2.0})"),
             {"rope type 'dynamic' is not supported"});
  expect_bad(with(kTinyLlama, "rope_scaling", R"({"rope_type": "yarn", "factor": 4.0})"),
             {"'yarn'", "supported: default, linear, llama3"});
  expect_bad(with(kTinyLlama, "rope_scaling", "[1]"), {"'rope_scaling' must be an object"});
  expect_bad(with(kLlama32_1B, "rope_scaling",
                  R"({"factor": 32.0, "high_freq_factor": 1.0, "low_freq_factor": 1.0,
                      "original_max_position_embeddings": 8192, "rope_type": "llama3"})"),
             {"high_freq_factor", "must exceed low_freq_factor"});
  expect_bad(with(kLlama32_1B, "rope_scaling",
                  R"({"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "rope_type": "llama3"})"),
             {"'original_max_position_embeddings' is missing"});
  expect_bad(with(kTinyLlama, "rope_scaling",
                  R"({"rope_type": "default", "partial_rotary_factor": 0.5})"),
             {"partial_rotary_factor"});
}

TEST(HfConfig, ValidatesNumbers) {
  expect_bad(with(kTinyLlama, "num_key_value_heads", "5"),
             {"num_attention_heads (32) is not a multiple of num_key_value_heads (5)"});
  expect_bad(with(kTinyLlama, "num_hidden_layers", "0"), {"'num_hidden_layers' must be in [1, 4096]"});
  expect_bad(with(kTinyLlama, "hidden_size", "-64"), {"'hidden_size' must be in"});
  expect_bad(with(kTinyLlama, "hidden_size", "2049"), {"hidden_size (2049) is not a multiple"});
  expect_bad(with(kTinyLlama, "hidden_size", "2048.0"), {"'hidden_size' must be an integer"});
  expect_bad(with(kTinyLlama, "hidden_size", "\"2048\""), {"'hidden_size' must be an integer"});
  expect_bad(with(kTinyLlama, "hidden_size", "null"), {"'hidden_size' is null"});
  expect_bad(with(kTinyLlama, "hidden_size", "99999999999999999999"), {"'hidden_size' must be"});
  expect_bad(with(kTinyLlama, "hidden_size", "18446744073709551615"), {"'hidden_size' must be in"});
  expect_bad(with(kTinyLlama, "intermediate_size", "4194304"), {"'intermediate_size' must be in"});
  expect_bad(with(kTinyLlama, "vocab_size", "0"), {"'vocab_size'"});
  expect_bad(with(kTinyLlama, "head_dim", "63"), {"'head_dim' must be even"});
  expect_bad(with(kTinyLlama, "head_dim", "1048576"), {"implausibly large"});
  expect_bad(with(kTinyLlama, "rms_norm_eps", "0"), {"'rms_norm_eps' must be in (0, 1]"});
  expect_bad(with(kTinyLlama, "rms_norm_eps", "\"1e-5\""), {"'rms_norm_eps' must be a number"});
  expect_bad(with(kTinyLlama, "rope_theta", "-1"), {"'rope_theta'"});
  expect_bad(with(kTinyLlama, "tie_word_embeddings", "1"), {"'tie_word_embeddings' must be true or false"});
  expect_bad(with(kTinyLlama, "hidden_act", "\"gelu_10\""), {"'hidden_act'", "supported activations"});
  expect_bad(with(kMistral7B, "sliding_window", "0"), {"'sliding_window' must be in"});
}

TEST(HfConfig, ValidatesTokenIds) {
  expect_bad(with(kTinyLlama, "eos_token_id", "32000"), {"'eos_token_id'", "[0, vocab_size = 32000)"});
  expect_bad(with(kTinyLlama, "eos_token_id", "-1"), {"'eos_token_id'"});
  expect_bad(with(kTinyLlama, "eos_token_id", "[2, \"x\"]"), {"'eos_token_id'"});
  expect_bad(with(kTinyLlama, "bos_token_id", "[1, 2]"), {"'bos_token_id' must be a single"});
  const ModelConfig none = parse(with(with(kTinyLlama, "bos_token_id", "null"), "eos_token_id", "null"));
  EXPECT_EQ(none.bos_id, -1);
  EXPECT_TRUE(none.eos_ids.empty());
}

TEST(HfConfig, RejectsUnknownTypesAndBadJson) {
  expect_bad(with(kTinyLlama, "model_type", "\"falcon\""),
             {"'model_type' is 'falcon'", "supported: gpt2, llama, mistral, qwen2, qwen3"});
  expect_bad(with(kTinyLlama, "model_type", "7"), {"'model_type' must be a string"});
  expect_bad("{\"hidden_size\": 8}", {"'model_type' is missing"});
  expect_bad("{", {"not valid JSON"});
  expect_bad("[]", {"not a JSON object"});
  expect_bad("", {"not valid JSON"});
}

TEST(HfConfig, ReadsAFileOrAFolder) {
  testing::TempDir dir;
  const std::string path = dir.write("config.json", std::string(kSmolLM2_135M));
  EXPECT_EQ(read_hf_config(path).hidden, 576);
  EXPECT_EQ(read_hf_config(dir.path()).hidden, 576);
  try {
    read_hf_config(dir.path() + "/missing.json");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::environment);
  }
  dir.write("config.json", std::string("{\"model_type\": \"llama\"}"));
  try {
    read_hf_config(dir.path());
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lockstep

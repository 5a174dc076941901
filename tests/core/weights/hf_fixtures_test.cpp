// The safetensors reader and the config parser against checkpoints written by
// transformers itself (tests/core/fixtures/make_hf_models.py, run into a temp
// folder): every fixture's config parses, and the tensors its file holds are
// exactly the ones, with exactly the shapes, that the parsed ModelConfig
// implies. That pins the meaning of each config field (head_dim, biases, tied
// embeddings, q/k norms) to what transformers builds, not to our reading of
// its docs. Skipped where the Python has no transformers.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/models/hf_config.h"
#include "core/weights/safetensors_source.h"
#include "tests/core/python_module.h"
#include "tests/core/weights/safetensors_builder.h"

namespace lockstep {
namespace {

using Shapes = std::map<std::string, std::vector<int64_t>>;

// Tensor names and shapes of a transformers checkpoint of config `c`.
Shapes expected_tensors(const ModelConfig& c) {
  Shapes s;
  const int64_t h = c.hidden, q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  if (c.is_gpt2()) {
    s["transformer.wte.weight"] = {c.vocab, h};
    s["transformer.wpe.weight"] = {c.context, h};
    s["transformer.ln_f.weight"] = s["transformer.ln_f.bias"] = {h};
    for (int64_t i = 0; i < c.n_layers; ++i) {
      const std::string p = "transformer.h." + std::to_string(i) + ".";
      s[p + "ln_1.weight"] = s[p + "ln_1.bias"] = s[p + "ln_2.weight"] = s[p + "ln_2.bias"] = {h};
      s[p + "attn.c_attn.weight"] = {h, 3 * h};  // Conv1D: [in, out]
      s[p + "attn.c_attn.bias"] = {3 * h};
      s[p + "attn.c_proj.weight"] = {h, h};
      s[p + "attn.c_proj.bias"] = {h};
      s[p + "mlp.c_fc.weight"] = {h, c.ffn};
      s[p + "mlp.c_fc.bias"] = {c.ffn};
      s[p + "mlp.c_proj.weight"] = {c.ffn, h};
      s[p + "mlp.c_proj.bias"] = {h};
    }
  } else {
    s["model.embed_tokens.weight"] = {c.vocab, h};
    s["model.norm.weight"] = {h};
    for (int64_t i = 0; i < c.n_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      s[p + "input_layernorm.weight"] = s[p + "post_attention_layernorm.weight"] = {h};
      s[p + "self_attn.q_proj.weight"] = {q, h};
      s[p + "self_attn.k_proj.weight"] = s[p + "self_attn.v_proj.weight"] = {kv, h};
      s[p + "self_attn.o_proj.weight"] = {h, q};
      if (c.qkv_bias) {
        s[p + "self_attn.q_proj.bias"] = {q};
        s[p + "self_attn.k_proj.bias"] = s[p + "self_attn.v_proj.bias"] = {kv};
      }
      if (c.o_bias) s[p + "self_attn.o_proj.bias"] = {h};
      if (c.qk_norm) s[p + "self_attn.q_norm.weight"] = s[p + "self_attn.k_norm.weight"] = {c.head_dim};
      s[p + "mlp.gate_proj.weight"] = s[p + "mlp.up_proj.weight"] = {c.ffn, h};
      s[p + "mlp.down_proj.weight"] = {h, c.ffn};
      if (c.mlp_bias) {
        s[p + "mlp.gate_proj.bias"] = s[p + "mlp.up_proj.bias"] = {c.ffn};
        s[p + "mlp.down_proj.bias"] = {h};
      }
    }
  }
  if (!c.tied_embeddings) s["lm_head.weight"] = {c.vocab, h};
  return s;
}

std::vector<float> read(const TensorSource& s, const std::string& name) {
  std::vector<float> out(static_cast<size_t>(s.find(name)->n_elements()));
  s.read_f32(name, out.data());
  return out;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// float -> bfloat16 -> float, rounding to nearest even (finite inputs).
uint32_t bf16_round_bits(float f) {
  const uint32_t u = bits(f);
  return ((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16) << 16;
}

class HfFixtures : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string python = LOCKSTEP_PYTHON;
    skip_ = testing_support::missing_module(python, "transformers");
    if (!skip_.empty()) return;
    dir_ = new testing::TempDir();
    const std::string cmd = "'" + python + "' '" LOCKSTEP_SOURCE_DIR
                            "/tests/core/fixtures/make_hf_models.py' --out '" + dir_->path() +
                            "' >/dev/null 2>&1";
    generated_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(generated_) << "make_hf_models.py failed";
  }
  static std::string fixture(const std::string& name) { return dir_->path() + "/" + name; }

  static inline testing::TempDir* dir_ = nullptr;
  static inline bool generated_ = false;
  static inline std::string skip_;
};

TEST_F(HfFixtures, EveryFileHoldsWhatItsConfigImplies) {
  for (const char* name : {"gpt2", "llama", "llama-tied", "llama3-rope", "llama-bias", "mistral",
                           "qwen2", "qwen3", "llama-sharded", "llama-bf16"}) {
    SCOPED_TRACE(name);
    const ModelConfig c = read_hf_config(fixture(name));
    const auto src = open_safetensors(fixture(name));
    const Shapes want = expected_tensors(c);
    std::vector<std::string> want_names;
    for (const auto& [n, shape] : want) want_names.push_back(n);
    EXPECT_EQ(src->names(), want_names);
    for (const auto& [n, shape] : want) {
      const TensorMeta* meta = src->find(n);
      if (meta == nullptr) continue;  // reported by the names check
      EXPECT_EQ(meta->shape, shape) << n;
      EXPECT_EQ(meta->dtype, std::string(name) == "llama-bf16" ? "BF16" : "F32") << n;
      read(*src, n);
    }
  }
}

TEST_F(HfFixtures, ConfigsSayWhatTheFixturesAre) {
  const ModelConfig gpt2 = read_hf_config(fixture("gpt2"));
  EXPECT_TRUE(gpt2.is_gpt2());
  EXPECT_EQ(gpt2.ffn, 256);
  EXPECT_TRUE(gpt2.tied_embeddings);
  EXPECT_EQ(gpt2.activation, "gelu_new");

  const ModelConfig rope = read_hf_config(fixture("llama3-rope"));
  EXPECT_EQ(rope.rope_scaling.type, "llama3");
  EXPECT_EQ(rope.rope_scaling.factor, 8.0);
  EXPECT_EQ(rope.rope_scaling.original_max_positions, 32);
  EXPECT_EQ(rope.rope_theta, 500000.0);
  EXPECT_EQ(read_hf_config(fixture("llama")).rope_scaling.type, "none");

  const ModelConfig bias = read_hf_config(fixture("llama-bias"));
  EXPECT_EQ(bias.head_dim, 32);
  EXPECT_TRUE(bias.qkv_bias && bias.o_bias && bias.mlp_bias);

  EXPECT_EQ(read_hf_config(fixture("mistral")).sliding_window, 16);

  const ModelConfig qwen2 = read_hf_config(fixture("qwen2"));
  EXPECT_TRUE(qwen2.qkv_bias);
  EXPECT_FALSE(qwen2.o_bias);
  EXPECT_TRUE(qwen2.tied_embeddings);
  EXPECT_EQ(qwen2.sliding_window, 0);
  EXPECT_EQ(qwen2.rope_theta, 1e6);

  const ModelConfig qwen3 = read_hf_config(fixture("qwen3"));
  EXPECT_TRUE(qwen3.qk_norm);
  EXPECT_EQ(qwen3.head_dim, 32);
  EXPECT_EQ(qwen3.n_kv_heads, 2);
  EXPECT_EQ(qwen3.bos_id, 1);
  EXPECT_EQ(qwen3.eos_ids, (std::vector<int32_t>{2}));
}

// llama-sharded and llama-bf16 hold llama's weights (one seed): the sharded
// reader must give the same bits, the BF16 one llama's rounded to nearest even.
TEST_F(HfFixtures, ShardedAndBf16HoldTheSameWeights) {
  const auto single = open_safetensors(fixture("llama"));
  const auto sharded = open_safetensors(fixture("llama-sharded"));
  const auto bf16 = open_safetensors(fixture("llama-bf16"));
  EXPECT_NE(sharded->origin().find("model.safetensors.index.json"), std::string::npos);
  ASSERT_EQ(single->names(), sharded->names());
  ASSERT_EQ(single->names(), bf16->names());
  for (const std::string& name : single->names()) {
    const std::vector<float> a = read(*single, name), b = read(*sharded, name), r = read(*bf16, name);
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << name;
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(bits(r[i]), bf16_round_bits(a[i])) << name << "[" << i << "]";
    }
  }
}

}  // namespace
}  // namespace lockstep

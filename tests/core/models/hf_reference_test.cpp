// The model against transformers itself, for every family and format the
// fixtures cover (tests/core/fixtures/make_hf_models.py: gpt2, llama tied and
// untied, Llama-3 RoPE scaling, biases, mistral's sliding window, qwen2,
// qwen3, a sharded checkpoint, bf16 weights): logits at every prompt position
// and at every greedy step within 1e-4 of max|ref| (fp32 vs fp64 differ by
// under 1e-6 there; the smallest top-2 gap is 5e-3), and the same 16 greedy
// tokens. Then, under the batch-invariant mode, each fixture's request gives
// bitwise the same logits alone and inside ragged batches of other requests.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "core/engine/generate.h"
#include "core/models/decoder.h"
#include "core/models/hf_config.h"
#include "core/util/sha256.h"
#include "core/weights/safetensors_source.h"
#include "kernels/mode.h"
#include "tests/core/python_module.h"

namespace lockstep {
namespace {

// float32 C-order .npy (the fixtures' logits) -> [rows, cols] tensor.
at::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error(path + ": not npy");
  const size_t header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
  const std::string header = bytes.substr(10, header_len);
  std::smatch m;
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos ||
      !std::regex_search(header, m, std::regex(R"('shape': \((\d+), (\d+)\))"))) {
    throw std::runtime_error(path + ": expected a 2-D little-endian float32 C-order array");
  }
  const int64_t rows = std::stoll(m[1]), cols = std::stoll(m[2]);
  at::Tensor t = at::empty({rows, cols}, at::kFloat);
  std::memcpy(t.data_ptr<float>(), bytes.data() + 10 + header_len, static_cast<size_t>(rows * cols) * 4);
  return t;
}

double relative_error(const at::Tensor& got, const at::Tensor& ref) {
  return (got - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

class HfReference : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    const std::string python = LOCKSTEP_PYTHON;
    skip_ = testing_support::missing_module(python, "transformers");
    if (!skip_.empty()) return;
    // Made once per version of the generator and kept in the build tree:
    // ctest runs every test in its own process. Generated beside, then
    // renamed into place, so concurrent processes never see half a folder.
    const std::string script = LOCKSTEP_SOURCE_DIR "/tests/core/fixtures/make_hf_models.py";
    dir_ = std::string(LOCKSTEP_BINARY_DIR) + "/hf-fixtures-" + sha256_file(script).substr(0, 16);
    if (::access((dir_ + "/fixtures.json").c_str(), R_OK) != 0) {
      const std::string tmp = dir_ + ".tmp-" + std::to_string(::getpid());
      const std::string cmd = "'" + python + "' '" + script + "' --out '" + tmp + "' >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) {
        failure_ = "make_hf_models.py failed (run it by hand: " + cmd + ")";
      } else if (::rename(tmp.c_str(), dir_.c_str()) != 0) {   // another process was first
        std::system(("rm -rf '" + tmp + "'").c_str());
      }
    }
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(failure_.empty()) << failure_;
    folder_ = dir_ + "/" + GetParam();
    std::ifstream in(folder_ + "/reference.json");
    reference_ = nlohmann::json::parse(in);
    model_ = std::make_unique<DecoderModel>(DecoderModel::load(read_hf_config(folder_), *open_safetensors(folder_)));
  }
  std::vector<int32_t> ids(const char* key) const { return reference_.at(key).get<std::vector<int32_t>>(); }

  static inline std::string dir_;
  static inline std::string failure_;
  static inline std::string skip_;
  std::string folder_;
  nlohmann::json reference_;
  std::unique_ptr<DecoderModel> model_;
};

TEST_P(HfReference, PromptLogitsMatchTransformers) {
  const std::vector<int32_t> prompt = ids("prompt_ids");
  KvCache cache = model_->new_cache(static_cast<int64_t>(prompt.size()));
  const at::Tensor logits = model_->forward(prompt, cache);
  const at::Tensor ref = read_npy(folder_ + "/logits.npy");
  ASSERT_EQ(logits.sizes(), ref.sizes());
  EXPECT_LT(relative_error(logits, ref), 1e-4);
}

TEST_P(HfReference, GreedyTokensAndStepLogitsMatchTransformers) {
  GenerateOptions options;
  options.max_new_tokens = static_cast<int64_t>(ids("greedy_ids").size());
  options.stop_at_eos = false;
  const Generation g = generate(*model_, ids("prompt_ids"), /*eos_id=*/-1, options,
                                [&, ref = read_npy(folder_ + "/step_logits.npy")](int64_t step, at::Tensor& row) {
                                  EXPECT_LT(relative_error(row, ref[step]), 1e-4) << "step " << step;
                                });
  EXPECT_EQ(g.output_ids, ids("greedy_ids"));
}

TEST_P(HfReference, RequestAloneEqualsRequestInRaggedBatches) {
  const kernels::ModeGuard guard(kernels::Mode::batch_invariant);
  const std::vector<int32_t> prompt = ids("prompt_ids");
  KvCache alone = model_->new_cache(64);
  const at::Tensor solo_prefill = model_->forward_last({{prompt, &alone}});
  const at::Tensor solo_decode = model_->forward_last({{{5}, &alone}});
  // Neighbours: a longer prompt, a shorter one, and one already decoding, in
  // one pool whose blocks the spacer scatters.
  const std::shared_ptr<KvPool> pool = model_->new_pool(32, 8);
  auto spacer = std::make_optional<KvCache>(pool, 20);
  KvCache c(pool, 64);
  spacer.reset();
  KvCache target(pool, 64), a(pool, 64), b(pool, 64);
  ASSERT_NE(target.blocks()[3], target.blocks()[2] + 1) << "the target's blocks should not be consecutive";
  model_->forward_last({{{9, 8, 7, 6, 5, 4, 3, 2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, &c}});
  const at::Tensor prefill = model_->forward_last(
      {{{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6}, &a}, {prompt, &target}, {{44}, &c}, {{7, 7}, &b}});
  const at::Tensor decode = model_->forward_last({{{12}, &a}, {{13}, &b}, {{14}, &c}, {{5}, &target}});
  EXPECT_TRUE(at::equal(prefill[1], solo_prefill[0]));
  EXPECT_TRUE(at::equal(decode[3], solo_decode[0]));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfReference,
                         ::testing::Values("gpt2", "llama", "llama-tied", "llama3-rope", "llama-bias", "mistral",
                                           "qwen2", "qwen3", "llama-sharded", "llama-bf16"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

}  // namespace
}  // namespace lockstep

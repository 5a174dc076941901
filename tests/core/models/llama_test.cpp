// Llama forward pass on the embedded SmolLM2-135M: configuration read from
// GGUF, repeatability, the KV cache (incremental decode agrees with a full
// prefill within fp32 rounding), and input validation.
#include "core/models/decoder.h"

#include <gtest/gtest.h>


#include "core/engine/model_bundle.h"
#include "core/error.h"
#include "tests/core/models/model_shape.h"
#include "tests/core/real_model.h"

namespace lockstep {
namespace {

class SmolLM2 : public testing_support::RealModelTest {
 protected:
  const DecoderModel& model() const { return bundle_->model; }
};

TEST_F(SmolLM2, ConfigFromMetadata) {
  const ModelConfig& c = model().config();
  testing_support::expect_shape(c, {30, 576, 1536, 9, 3, 64, 49152, 8192});
  EXPECT_DOUBLE_EQ(c.rope_theta, 100000.0);
  EXPECT_TRUE(c.tied_embeddings);
  // 30 layers x 9 matrices/norms + embedding + final norm; tied: no lm_head.
  EXPECT_EQ(model().parameters().size(), 30u * 9 + 2);
}

TEST_F(SmolLM2, ForwardIsRepeatableBitForBit) {
  const std::vector<int32_t> ids = bundle_->prompt_ids("Why is the sky blue?");
  KvCache a = model().new_cache(64), b = model().new_cache(64);
  EXPECT_TRUE(at::equal(model().forward(ids, a), model().forward(ids, b)));
  EXPECT_EQ(a.length(), static_cast<int64_t>(ids.size()));
}

TEST_F(SmolLM2, IncrementalDecodeAgreesWithPrefill) {
  // Stock CPU kernels pick different reduction orders for 1 and T rows, so
  // this holds to fp32 rounding, not bitwise (bitwise is the kernels issue).
  const std::vector<int32_t> ids = bundle_->prompt_ids("The quick brown fox");
  KvCache full = model().new_cache(64);
  const at::Tensor all = model().forward(ids, full);
  KvCache step = model().new_cache(64);
  std::vector<int32_t> head(ids.begin(), ids.end() - 3);
  model().forward(head, step);
  for (size_t i = ids.size() - 3; i < ids.size(); ++i) {
    const at::Tensor row = model().forward({ids[i]}, step)[0];
    const at::Tensor ref = all[static_cast<int64_t>(i)];
    const double rel = (row - ref).abs().max().item<double>() / ref.abs().max().item<double>();
    EXPECT_LT(rel, 1e-5) << "position " << i;
  }
}

TEST_F(SmolLM2, RejectsBadInput) {
  KvCache cache = model().new_cache(4);
  EXPECT_THROW(model().forward({}, cache), Error);
  EXPECT_THROW(model().forward({1, 2, 3, 4, 5}, cache), Error);          // over capacity
  EXPECT_THROW(model().forward({49152}, cache), Error);                  // out of vocabulary
  EXPECT_THROW(model().forward({-1}, cache), Error);
  EXPECT_EQ(cache.length(), 0);
}

TEST_F(SmolLM2, GreedyAnswerIsSensible) {
  const std::vector<int32_t> ids = bundle_->prompt_ids("What is the capital of France?");
  KvCache cache = model().new_cache(64);
  at::Tensor logits = model().forward(ids, cache);
  std::vector<int32_t> out;
  for (int i = 0; i < 8; ++i) {
    const int32_t next = static_cast<int32_t>(logits[logits.size(0) - 1].argmax().item<int64_t>());
    out.push_back(next);
    logits = model().forward({next}, cache);
  }
  EXPECT_NE(bundle_->tokenizer.decode(out).find("Paris"), std::string::npos) << bundle_->tokenizer.decode(out);
}

}  // namespace
}  // namespace lockstep

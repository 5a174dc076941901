// The whole model under kernels::ModeGuard(batch_invariant): a request's
// logits are bitwise the same alone and inside a batch of other requests,
// and a position's logits are the same from a full prefill, a chunked
// prefill and token-by-token decode. With the mode off (stock libtorch) the
// same comparisons are printed, to show what the mode fixes.
#include <gtest/gtest.h>

#include <random>

#include "core/models/decoder.h"
#include "kernels/mode.h"
#include "tests/core/real_model.h"

namespace lockstep {
namespace {

using kernels::Mode;
using kernels::ModeGuard;
using Invariance = testing_support::RealModelTest;

std::vector<int32_t> random_ids(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int32_t> id(0, 49151);
  std::vector<int32_t> ids(n);
  for (auto& x : ids) x = id(rng);
  return ids;
}

// Logits of `target` at batch position `slot` inside a batch of `size`
// requests of random tokens.
at::Tensor in_batch(const DecoderModel& model, const std::vector<int32_t>& target, int size, int slot,
                    std::mt19937& rng) {
  std::vector<std::vector<int32_t>> batch;
  for (int i = 0; i < size; ++i) batch.push_back(i == slot ? target : random_ids(rng, target.size()));
  return model.forward_batch(batch)[slot];
}

TEST_F(Invariance, RequestAloneEqualsRequestInBatch) {
  std::mt19937 rng(1234);
  const std::vector<int32_t> target = bundle_->prompt_ids("Is this request independent of its neighbours?");
  for (Mode mode : {Mode::off, Mode::batch_invariant}) {
    ModeGuard guard(mode);
    const at::Tensor alone = bundle_->model.forward_batch({target})[0];
    int differing = 0;
    for (auto [size, slot] : std::vector<std::pair<int, int>>{{2, 1}, {3, 0}, {5, 4}, {8, 3}}) {
      const bool equal = at::equal(alone, in_batch(bundle_->model, target, size, slot, rng));
      differing += !equal;
      if (mode == Mode::batch_invariant) {
        EXPECT_TRUE(equal) << "batch of " << size << ", slot " << slot;
      }
    }
    std::printf("mode %s: %d of 4 batch placements changed the request's logits\n", kernels::mode_name(mode),
                differing);
  }
}

TEST_F(Invariance, PrefillChunkedPrefillAndDecodeAgreeBitwise) {
  ModeGuard guard(Mode::batch_invariant);
  const DecoderModel& model = bundle_->model;
  const std::vector<int32_t> ids = bundle_->prompt_ids("Chunked prefill must not change a single bit.");
  const int64_t n = static_cast<int64_t>(ids.size());
  KvCache full = model.new_cache(n);
  const at::Tensor reference = model.forward(ids, full);
  for (size_t chunk : {1, 5, 16}) {
    KvCache cache = model.new_cache(n);
    std::vector<at::Tensor> parts;
    for (size_t start = 0; start < ids.size(); start += chunk) {
      const size_t end = std::min(ids.size(), start + chunk);
      parts.push_back(model.forward(std::vector<int32_t>(ids.begin() + start, ids.begin() + end), cache));
    }
    const at::Tensor chunked = at::cat(parts);
    for (int64_t pos = 0; pos < n; ++pos) {
      ASSERT_TRUE(at::equal(chunked[pos], reference[pos])) << "chunk " << chunk << ", position " << pos;
    }
  }
}

// What a CUDA graph's replay changes about a decode step, checked on the CPU
// where it is visible: padding sequences over a scratch block and tables
// padded to a fixed width in fixed buffers (core/models/decode_graphs.h). In
// batch_invariant mode the real rows keep their bits (the mode-off control
// of "the batch changes a row" is RequestAloneEqualsRequestInBatch's).
TEST_F(Invariance, PaddedFixedDecodeStepEqualsThePlainStep) {
  const DecoderModel& m = bundle_->model;
  const ModeGuard guard(Mode::batch_invariant);
  const std::shared_ptr<KvPool> pool = m.new_pool(64);
  const int32_t scratch = pool->try_allocate(1)->front();
  std::vector<KvCache> a, b;
  const std::vector<std::vector<int32_t>> prompts{{1, 2, 3, 4, 5}, {9, 8, 7}, {42}};
  for (const auto& p : prompts) {
    a.emplace_back(pool, 64);
    b.emplace_back(pool, 64);
    m.forward(p, a.back());
    m.forward(p, b.back());
  }
  std::vector<SequenceChunk> plain, padded;
  for (size_t i = 0; i < prompts.size(); ++i) {
    plain.push_back({{static_cast<int32_t>(100 + i)}, &a[i]});
    padded.push_back({{static_cast<int32_t>(100 + i)}, &b[i]});
  }
  const at::Tensor want = m.forward_last(plain);
  kernels::PagedStep::Fixed fixed;
  fixed.table_width = pool->blocks_for(m.config().context);
  fixed.max_keys = fixed.table_width * pool->block_size();
  const int64_t pad_to = 8;
  fixed.meta = at::zeros({kernels::PagedStep::meta_size(pad_to, pad_to, fixed.table_width, m.config().n_kv_heads)},
                         at::kLong);
  const DecoderModel::StepHandle step = m.prepare(padded, pad_to, scratch, &fixed);
  std::vector<int64_t> ids(pad_to, 0);
  for (size_t i = 0; i < padded.size(); ++i) ids[i] = padded[i].ids[0];
  const at::Tensor got = m.run(step, at::tensor(ids, at::kLong), /*last_only=*/true);
  m.advance(padded);
  ASSERT_EQ(got.size(0), pad_to);
  EXPECT_TRUE(at::equal(got.narrow(0, 0, static_cast<int64_t>(prompts.size())), want));
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(a[i].length(), b[i].length());
}

}  // namespace
}  // namespace lockstep

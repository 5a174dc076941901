#include "harness/runs/shared_engine_compare.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include "core/engine/drive.h"
#include "core/error.h"
#include "core/util/sha256.h"
#include "harness/runs/sweep.h"

namespace lockstep::harness {

SharedEngineResult run_shared_engine(const std::shared_ptr<const DecoderModel>& model,
                                     const std::vector<int32_t>& target, kernels::Mode mode,
                                     const SharedEngineSettings& s) {
  if (s.copies < 1 || s.fillers < 0 || s.decode_tokens < 1 || s.filler_max_prompt < 1 || s.filler_max_new < 1 ||
      s.max_batch < 1 || s.threads < 1) {
    throw bad_input("compare --one-engine: copies, decode tokens, filler sizes, batch and threads must be >= 1");
  }
  const int64_t vocab = model->config().vocab, context = model->config().context;
  if (static_cast<int64_t>(target.size()) + s.decode_tokens > context ||
      s.filler_max_prompt + s.filler_max_new > context) {
    throw bad_input("compare --one-engine: a request would exceed the model's context of " + std::to_string(context));
  }
  std::mt19937_64 rng(s.seed);
  std::vector<TimedRequest> requests;
  std::vector<bool> is_copy;
  for (int64_t i = 0; i < s.copies + s.fillers; ++i) {
    TimedRequest r;
    r.options.stop_at_eos = false;
    if (i < s.copies) {
      r.prompt = target;
      r.options.max_new_tokens = s.decode_tokens;
    } else {
      r.prompt = random_token_ids(rng, 1 + rng() % static_cast<uint64_t>(s.filler_max_prompt), vocab);
      r.options.max_new_tokens = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(s.filler_max_new));
    }
    requests.push_back(std::move(r));
  }
  // Copies and fillers interleaved at random: every copy arrives among others.
  std::vector<size_t> order(requests.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<TimedRequest> shuffled;
  for (size_t i : order) {
    shuffled.push_back(requests[i]);
    is_copy.push_back(static_cast<int64_t>(i) < s.copies);
  }

  EngineOptions options;
  options.max_batch = s.max_batch;
  options.mode = mode;
  Engine engine(model, {}, options);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Generation> out = submit_concurrently(engine, shuffled, s.threads);
  SharedEngineResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.stats = engine.stats();
  std::set<std::vector<int32_t>> tokens;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!is_copy[i]) continue;
    tokens.insert(out[i].output_ids);
    std::string all(reinterpret_cast<const char*>(out[i].output_ids.data()), out[i].output_ids.size() * sizeof(int32_t));
    for (const std::string& d : out[i].step_logits_sha256) all += d;
    ++result.histogram[sha256_hex(all)];
  }
  result.unique_tokens = static_cast<int64_t>(tokens.size());
  result.unique_bits = static_cast<int64_t>(result.histogram.size());
  return result;
}

}  // namespace lockstep::harness

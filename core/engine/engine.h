// A thread-safe request API over one model: any number of threads submit
// requests; one scheduler thread batches them dynamically. Each step runs, in
// one ragged batch (DecoderModel::forward_last), the whole prompt of every
// newly admitted request and the last token of every running one; a request
// joins at the next step after it arrives and leaves the step it finishes.
//
// Under kernels::ModeGuard(batch_invariant) (the scheduler thread sets the
// engine's mode; the mode is process-wide) every request's tokens and per-step
// logits digests are bitwise those of generate() alone: projections, norms
// and MLP are computed row by row independently of the batch, attention runs
// per sequence, and sampling draws from (seed, stream, step).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/engine/generate.h"
#include "core/models/decoder.h"
#include "kernels/mode.h"

namespace lockstep {

struct EngineOptions {
  int64_t max_batch = 64;                  // requests in one step
  int64_t max_prefill_tokens = 8192;       // prompt tokens admitted per step (at least one request)
  kernels::Mode mode = kernels::Mode::batch_invariant;
};

struct EngineStats {
  int64_t steps = 0;
  int64_t requests = 0;
  int64_t largest_batch = 0;               // most requests in one step
  int64_t tokens = 0;                      // tokens generated
};

class Engine {
 public:
  Engine(std::shared_ptr<const DecoderModel> model, std::vector<int32_t> eos_ids, EngineOptions options = {});
  // Finishes the requests already submitted, then stops.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates at once (bad_input thrown here for bad options, token ids out
  // of the vocabulary, or an empty or too long prompt); the future holds the result or the error of the step.
  std::future<Generation> submit(std::vector<int32_t> prompt_ids, GenerateOptions options,
                                 StepObserver observer = {});
  EngineStats stats() const;

 private:
  struct Active {
    Decoding decoding;
    KvCache cache;
    std::promise<Generation> promise;
  };
  void loop();
  void step(std::vector<std::unique_ptr<Active>>& running);

  std::shared_ptr<const DecoderModel> model_;
  std::vector<int32_t> eos_ids_;
  EngineOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Active>> waiting_;
  bool stopping_ = false;
  EngineStats stats_;
  std::thread scheduler_;
};

}  // namespace lockstep

#include "core/engine/engine.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "core/error.h"

namespace lockstep {

Engine::Engine(std::shared_ptr<const DecoderModel> model, std::vector<int32_t> eos_ids, EngineOptions options)
    : model_(std::move(model)), eos_ids_(std::move(eos_ids)), options_(options) {
  if (!model_) throw bad_input("Engine: no model");
  if (options_.max_batch < 1 || options_.max_prefill_tokens < 1) {
    throw bad_input("Engine: max_batch and max_prefill_tokens must be at least 1");
  }
  scheduler_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  scheduler_.join();
}

std::future<Generation> Engine::submit(std::vector<int32_t> prompt_ids, GenerateOptions options,
                                       StepObserver observer) {
  for (int32_t id : prompt_ids) {
    if (id < 0 || id >= model_->config().vocab) {
      throw bad_input("prompt token id " + std::to_string(id) + " is out of range (vocabulary of " +
                      std::to_string(model_->config().vocab) + ")");
    }
  }
  Decoding decoding(std::move(prompt_ids), eos_ids_, std::move(options), std::move(observer));
  if (decoding.capacity() > model_->config().context) {
    throw bad_input("prompt + max_new_tokens = " + std::to_string(decoding.capacity()) +
                    " tokens exceeds the model's context of " + std::to_string(model_->config().context));
  }
  auto active = std::unique_ptr<Active>(
      new Active{std::move(decoding), model_->new_cache(0), std::promise<Generation>()});
  std::future<Generation> future = active->promise.get_future();
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw environment_error("Engine: stopping, no new requests");
    waiting_.push_back(std::move(active));
    ++stats_.requests;
  }
  wake_.notify_one();
  return future;
}

EngineStats Engine::stats() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Engine::loop() {
  const kernels::ModeGuard guard(options_.mode);
  std::vector<std::unique_ptr<Active>> running;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !running.empty(); });
      if (stopping_ && waiting_.empty() && running.empty()) return;
      // Admit waiting requests while the step has room.
      int64_t prefill = 0;
      while (!waiting_.empty() && static_cast<int64_t>(running.size()) < options_.max_batch) {
        const int64_t tokens = static_cast<int64_t>(waiting_.front()->decoding.next_input().size());
        if (prefill > 0 && prefill + tokens > options_.max_prefill_tokens) break;
        prefill += tokens;
        running.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
      }
    }
    step(running);
  }
}

void Engine::step(std::vector<std::unique_ptr<Active>>& running) {
  std::vector<SequenceChunk> chunks;
  for (auto& a : running) {
    if (a->cache.capacity() == 0) a->cache = model_->new_cache(a->decoding.capacity());
    chunks.push_back(SequenceChunk{a->decoding.next_input(), &a->cache});
  }
  int64_t produced = 0;
  try {
    const at::Tensor logits = model_->forward_last(chunks);
    for (size_t i = 0; i < running.size(); ++i) {
      running[i]->decoding.accept(logits[static_cast<int64_t>(i)]);
      ++produced;
    }
  } catch (...) {
    // A failed step fails every request in it; the engine keeps serving.
    for (auto& a : running) a->promise.set_exception(std::current_exception());
    running.clear();
    return;
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.steps;
    stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, static_cast<int64_t>(running.size()));
    stats_.tokens += produced;
  }
  auto finished = std::stable_partition(running.begin(), running.end(), [](const auto& a) { return !a->decoding.done(); });
  for (auto it = finished; it != running.end(); ++it) (*it)->promise.set_value((*it)->decoding.take());
  running.erase(finished, running.end());
}

}  // namespace lockstep

#include "core/engine/engine.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "core/error.h"
#include "kernels/argmax.h"
#include "kernels/paged_attention.h"

namespace lockstep {

Engine::Engine(std::shared_ptr<const DecoderModel> model, std::vector<int32_t> eos_ids, EngineOptions options)
    : model_(std::move(model)), eos_ids_(std::move(eos_ids)), options_(options) {
  if (!model_) throw bad_input("Engine: no model");
  if (options_.max_batch < 1 || options_.max_prefill_tokens < 1) {
    throw bad_input("Engine: max_batch and max_prefill_tokens must be at least 1");
  }
  if (options_.kv_cache_bytes < 0 || options_.kv_block_size < 1) {
    throw bad_input("Engine: the KV-cache budget must be >= 0 bytes and the block size >= 1");
  }
  const ModelConfig& c = model_->config();
  const int64_t per_position = KvPool::bytes_per_position(c, model_->dtype());
  int64_t bytes = options_.kv_cache_bytes;
  if (bytes == 0) {
    const int64_t cap = model_->device().is_cpu() ? (int64_t{2} << 30) : (int64_t{8} << 30);
    const int64_t full = std::min<int64_t>(options_.max_batch, int64_t{1} << 20) * c.context * per_position;
    bytes = std::min(cap, full);
  }
  const int64_t blocks = bytes / (per_position * options_.kv_block_size);
  if (blocks < 1) {
    throw bad_input("Engine: a KV-cache budget of " + std::to_string(bytes) + " bytes holds no block of " +
                    std::to_string(options_.kv_block_size) + " positions (" + std::to_string(per_position) +
                    " bytes each)");
  }
  const bool graphs = options_.cuda_graphs && options_.mode == kernels::Mode::batch_invariant &&
                      DecodeGraphs::supported(*model_);
  pool_ = model_->new_pool(blocks + (graphs ? 1 : 0), options_.kv_block_size);   // + the graphs' scratch block
  if (graphs) graphs_ = std::make_unique<DecodeGraphs>(model_, pool_, options_.max_batch);
  digests_ = std::make_unique<DigestPool>(options_.digest_threads < 0 ? DigestPool::default_threads()
                                                                      : options_.digest_threads);
  stats_.kv_blocks = blocks;
  stats_.kv_block_size = options_.kv_block_size;
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

std::unique_ptr<Engine::Active> Engine::make_active(Request request) const {
  for (int32_t id : request.prompt_ids) {
    if (id < 0 || id >= model_->config().vocab) {
      throw bad_input("prompt token id " + std::to_string(id) + " is out of range (vocabulary of " +
                      std::to_string(model_->config().vocab) + ")");
    }
  }
  Decoding decoding(std::move(request.prompt_ids), eos_ids_, std::move(request.options), std::move(request.observer));
  if (decoding.capacity() > model_->config().context) {
    throw bad_input("prompt + max_new_tokens = " + std::to_string(decoding.capacity()) +
                    " tokens exceeds the model's context of " + std::to_string(model_->config().context));
  }
  if (pool_->blocks_for(decoding.capacity()) > stats_.kv_blocks) {
    const double gib = double(KvPool::bytes_per_position(model_->config(), model_->dtype())) * double(decoding.capacity()) /
                       double(int64_t{1} << 30);
    throw bad_input("prompt + max_new_tokens = " + std::to_string(decoding.capacity()) + " positions need " +
                    std::to_string(gib) + " GiB of KV cache, more than the whole budget of " +
                    std::to_string(stats_.kv_blocks * pool_->block_size()) +
                    " positions: raise the KV-cache budget (--kv-cache-gb) or shorten the request");
  }
  return std::unique_ptr<Active>(new Active{std::move(decoding), KvCache(), std::promise<Generation>(), 0});
}

void Engine::enqueue(std::vector<std::unique_ptr<Active>> actives) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw environment_error("Engine: stopping, no new requests");
    for (auto& a : actives) waiting_.push_back(std::move(a));
    stats_.requests += static_cast<int64_t>(actives.size());
  }
  wake_.notify_one();
}

std::future<Generation> Engine::submit(std::vector<int32_t> prompt_ids, GenerateOptions options,
                                       StepObserver observer) {
  std::vector<Request> one;
  one.push_back(Request{std::move(prompt_ids), std::move(options), std::move(observer)});
  return std::move(submit_all(std::move(one)).front());
}

std::vector<std::future<Generation>> Engine::submit_all(std::vector<Request> requests) {
  std::vector<std::unique_ptr<Active>> actives;
  std::vector<std::future<Generation>> futures;
  for (Request& r : requests) {
    actives.push_back(make_active(std::move(r)));
    futures.push_back(actives.back()->promise.get_future());
  }
  enqueue(std::move(actives));
  return futures;
}

EngineStats Engine::stats() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  EngineStats out = stats_;
  out.evicted_blocks = pool_->evictions();
  return out;
}

void Engine::loop() {
  const kernels::ModeGuard guard(options_.mode);
  if (options_.on_scheduler_start) options_.on_scheduler_start();
  std::vector<std::unique_ptr<Active>> running;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !running.empty(); });
      if (stopping_ && waiting_.empty() && running.empty()) return;
      admit(running);
    }
    step(running);
  }
}

// Under the lock: waiting requests join, first come first served, while the
// batch has room and the pool has their blocks.
void Engine::admit(std::vector<std::unique_ptr<Active>>& running) {
  // Cancelled requests leave the queue (fulfilled with nothing generated) and the batch.
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (!(*it)->decoding.cancel_requested()) {
      ++it;
      continue;
    }
    finish(**it);
    it = waiting_.erase(it);
  }
  for (auto& a : running) {
    if (a->decoding.cancel_requested()) finish(*a);
  }
  running.erase(std::remove_if(running.begin(), running.end(), [](const auto& a) { return a->decoding.done(); }),
                running.end());
  while (!waiting_.empty() && static_cast<int64_t>(running.size()) < options_.max_batch) {
    Active& a = *waiting_.front();
    std::optional<KvCache> cache = KvCache::try_reserve(
        pool_, a.decoding.capacity(), options_.prefix_cache ? &a.decoding.result().prompt_ids : nullptr);
    if (!cache) {
      ++stats_.waited_for_memory;
      break;
    }
    a.cache = std::move(*cache);
    a.prefilled = a.cache.reused();
    stats_.reused_positions += a.prefilled;
    running.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
}

void Engine::step(std::vector<std::unique_ptr<Active>>& running) {
  // Decodes first, then prompt chunks in arrival order up to the prefill budget.
  std::vector<SequenceChunk> chunks;
  std::vector<Active*> members;
  std::vector<bool> completes;   // the chunk ends the prompt (or is a decode): its logits choose a token
  int64_t budget = options_.max_prefill_tokens;
  for (auto& a : running) {
    if (a->prefilled < static_cast<int64_t>(a->decoding.result().prompt_ids.size())) continue;
    chunks.push_back(SequenceChunk{a->decoding.next_input(), &a->cache, a->decoding.probe()});
    members.push_back(a.get());
    completes.push_back(true);
  }
  for (auto& a : running) {
    const std::vector<int32_t>& prompt = a->decoding.result().prompt_ids;
    const int64_t left = static_cast<int64_t>(prompt.size()) - a->prefilled;
    if (left == 0 || budget == 0) continue;
    const int64_t take = std::min(left, budget);
    budget -= take;
    chunks.push_back(SequenceChunk{std::vector<int32_t>(prompt.begin() + a->prefilled,
                                                        prompt.begin() + a->prefilled + take),
                                   &a->cache, a->decoding.probe()});
    members.push_back(a.get());
    completes.push_back(take == left);
  }
  int64_t produced = 0;
  const int64_t step_number = stats_.steps;   // only this thread writes it
  const auto batch = static_cast<int64_t>(chunks.size());
  bool graphed = false;
  try {
    const bool probed = std::any_of(chunks.begin(), chunks.end(), [](const SequenceChunk& c) { return c.probe != nullptr; });
    graphed = graphs_ && !probed && graphs_->fits(chunks);
    const at::Tensor logits = graphed ? graphs_->step(chunks) : model_->forward_last_on_device(chunks);
    // Greedy tokens of the whole step in one argmax on the device; the one
    // synchronisation a step needs is copying them (and the rows) back.
    std::vector<int64_t> greedy_rows;
    for (int64_t i = 0; i < batch; ++i) {
      if (completes[static_cast<size_t>(i)] && members[static_cast<size_t>(i)]->decoding.greedy()) greedy_rows.push_back(i);
    }
    at::Tensor greedy;
    if (!greedy_rows.empty()) {
      const at::Tensor rows = kernels::upload(at::tensor(greedy_rows, at::kLong), logits.device());
      greedy = kernels::argmax_smallest_index(logits.index_select(0, rows)).to(at::kCPU);
    }
    // Into pinned memory: the copy runs at the link's speed.
    at::Tensor host = logits;
    if (!logits.is_cpu()) {
      host = at::empty(logits.sizes(), logits.options().device(at::kCPU).pinned_memory(true));
      host.copy_(logits);
    }
    size_t next_greedy = 0;
    for (int64_t i = 0; i < batch; ++i) {
      Active& a = *members[static_cast<size_t>(i)];
      if (a.prefilled < static_cast<int64_t>(a.decoding.result().prompt_ids.size())) {
        a.prefilled += static_cast<int64_t>(chunks[static_cast<size_t>(i)].ids.size());
      }
      if (!completes[static_cast<size_t>(i)]) continue;
      StepInputs in{StepPlace{batch, i, step_number}, std::nullopt, digests_.get(), options_.digests};
      if (next_greedy < greedy_rows.size() && greedy_rows[next_greedy] == i) {
        in.greedy = static_cast<int32_t>(greedy.const_data_ptr<int64_t>()[next_greedy++]);
      }
      a.decoding.accept(host[i], in);
      ++produced;
    }
    digests_->run_queued();
    if (options_.prefix_cache) {
      for (Active* a : members) {
        if (!a->cache.has_unpublished_block()) continue;
        std::vector<int32_t> tokens = a->decoding.result().prompt_ids;
        const std::vector<int32_t>& out = a->decoding.result().output_ids;
        tokens.insert(tokens.end(), out.begin(), out.end());
        a->cache.publish(tokens);
      }
    }
  } catch (...) {
    // A failed step fails every request in it; the engine keeps serving.
    digests_->run_queued();   // the requests' destructors wait for their queued digests
    for (auto& a : running) a->promise.set_exception(std::current_exception());
    running.clear();
    return;
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.steps;
    stats_.largest_batch = std::max(stats_.largest_batch, batch);
    stats_.tokens += produced;
    stats_.graph_steps += graphed ? 1 : 0;
  }
  auto finished = std::stable_partition(running.begin(), running.end(), [](const auto& a) { return !a->decoding.done(); });
  for (auto it = finished; it != running.end(); ++it) fulfil(**it);
  running.erase(finished, running.end());
}

void Engine::fulfil(Active& a) {
  try {
    a.promise.set_value(a.decoding.take());
  } catch (...) {
    a.promise.set_exception(std::current_exception());
  }
}

void Engine::finish(Active& a) {
  a.decoding.cancel();
  ++stats_.cancelled;
  fulfil(a);
}

}  // namespace lockstep

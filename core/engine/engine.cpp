#include "core/engine/engine.h"

#include <algorithm>
#include <exception>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "kernels/argmax.h"
#include "kernels/paged_attention.h"
#include "kernels/threads.h"
#include "kernels/token_choice.h"

#ifdef LOCKSTEP_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#endif

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
  const bool graphs = options_.cuda_graphs && options_.mode != kernels::Mode::portable &&
                      DecodeGraphs::supported(*model_);
  pool_ = model_->new_pool(blocks + (graphs ? 1 : 0), options_.kv_block_size);   // + the graphs' scratch block
  if (graphs) graphs_ = std::make_unique<DecodeGraphs>(model_, pool_, options_.max_batch);
  digests_ = std::make_unique<DigestPool>(options_.digest_threads < 0 ? DigestPool::default_threads()
                                                                      : options_.digest_threads);
  stats_.kv_blocks = blocks;
  stats_.kv_block_size = options_.kv_block_size;
  // The model was loaded here, maybe with an OpenMP team of this thread's:
  // free it, so the scheduler's team is the only one (kernels/threads.h).
  kernels::release_thread_team();
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

namespace {

// Waits for the device work enqueued before record() (nothing on the CPU).
class Fence {
 public:
  void record(const at::Device& device) {
#ifdef LOCKSTEP_WITH_CUDA
    if (device.is_cuda()) {
      event_.emplace();
      event_->record(at::cuda::getCurrentCUDAStream(device.index()));
    }
#else
    (void)device;
#endif
  }
  void wait() {
#ifdef LOCKSTEP_WITH_CUDA
    if (event_) event_->synchronize();
#endif
  }

 private:
#ifdef LOCKSTEP_WITH_CUDA
  std::optional<at::cuda::CUDAEvent> event_;
#endif
};

}  // namespace

struct Engine::Launched {
  int64_t number = 0;                 // the step's number in this engine
  bool graphed = false, followed = false;
  std::vector<Active*> members;       // one per row
  std::vector<bool> completes;        // the row ends a prompt or decodes: its logits choose a token
  std::vector<int64_t> chosen_rows;   // rows whose token is chosen on the device, ascending
  at::Tensor chosen;                  // int64 [chosen_rows] on the model's device (-1: a NaN row)
  at::Tensor chosen_host, logits_host;
  Fence copied;                       // chosen_host and logits_host are filled
  Running keep;                       // requests that ended while this step ran over their caches
};

void Engine::loop() {
  const kernels::ModeGuard guard(options_.mode);
  if (options_.on_scheduler_start) options_.on_scheduler_start();
  Running running;
  std::unique_ptr<Launched> pending;   // launched, its records not taken yet
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !running.empty() || pending; });
      if (stopping_ && waiting_.empty() && running.empty() && !pending) return;
      admit(running, pending.get());
    }
    try {
      if (!pending) pending = launch(running, nullptr);
      if (!pending) continue;   // everyone left
      std::unique_ptr<Launched> next;
      if (can_follow(*pending, running)) next = launch(running, pending.get());
      complete(*pending);
      retire(running, next.get());
      pending = std::move(next);
    } catch (...) {
      // A failed step fails every request in it; the engine keeps serving.
      digests_->run_queued();   // the requests' destructors wait for their queued digests
      for (auto& a : running) a->promise.set_exception(std::current_exception());
      running.clear();
      pending.reset();
    }
  }
}

// Under the lock: waiting requests join, first come first served, while the
// batch has room and the pool has their blocks.
void Engine::admit(Running& running, Launched* in_flight) {
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
  const auto ended = std::stable_partition(running.begin(), running.end(), [](const auto& a) { return !a->decoding.done(); });
  if (in_flight != nullptr) std::move(ended, running.end(), std::back_inserter(in_flight->keep));
  running.erase(ended, running.end());
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

bool Engine::can_follow(const Launched& previous, const Running& running) const {
  if (!options_.pipeline) return false;
  for (size_t i = 0; i < previous.members.size(); ++i) {
    const Decoding& d = previous.members[i]->decoding;
    if (previous.completes[i] && !d.done() && !d.chosen_on_device()) return false;   // its token is chosen on the host
  }
  return std::none_of(running.begin(), running.end(), [](const auto& a) { return a->decoding.probe() != nullptr; });
}

std::unique_ptr<Engine::Launched> Engine::launch(Running& running, const Launched* previous) {
  auto l = std::make_unique<Launched>();
  l->followed = previous != nullptr;
  // Where each of previous's members finds its token.
  std::unordered_map<const Active*, int64_t> fed_by;
  if (previous != nullptr) {
    for (size_t g = 0; g < previous->chosen_rows.size(); ++g) {
      fed_by.emplace(previous->members[static_cast<size_t>(previous->chosen_rows[g])], static_cast<int64_t>(g));
    }
  }
  // Decodes first, then prompt chunks in arrival order up to the prefill budget.
  std::vector<SequenceChunk> chunks;
  std::vector<int64_t> fed;   // per decode fed on the device: its index in previous->chosen
  for (auto& a : running) {
    if (a->prefilled < static_cast<int64_t>(a->decoding.result().prompt_ids.size())) continue;
    const auto it = fed_by.find(a.get());
    if (it != fed_by.end()) {
      if (a->decoding.ends_after_next()) continue;   // its last token comes from `previous`
      chunks.push_back(SequenceChunk{{0}, &a->cache, nullptr});   // the id is counted, not read
      fed.push_back(it->second);
    } else if (previous != nullptr) {
      throw std::logic_error("Engine: a decode whose input is not known after a pipelined step");
    } else {
      chunks.push_back(SequenceChunk{a->decoding.next_input(), &a->cache, a->decoding.probe()});
    }
    l->members.push_back(a.get());
    l->completes.push_back(true);
  }
  const size_t decodes = chunks.size();
  int64_t budget = options_.max_prefill_tokens;
  for (auto& a : running) {
    const std::vector<int32_t>& prompt = a->decoding.result().prompt_ids;
    const int64_t left = static_cast<int64_t>(prompt.size()) - a->prefilled;
    if (left == 0 || budget == 0) continue;
    const int64_t take = std::min(left, budget);
    budget -= take;
    chunks.push_back(SequenceChunk{std::vector<int32_t>(prompt.begin() + a->prefilled, prompt.begin() + a->prefilled + take),
                                   &a->cache, a->decoding.probe()});
    l->members.push_back(a.get());
    l->completes.push_back(take == left);
  }
  if (chunks.empty()) return nullptr;
  // The step's token ids on the device when some come from `previous`.
  at::Tensor ids;
  if (!fed.empty()) {
    const at::Device device = model_->device();
    const bool same = fed.size() == static_cast<size_t>(previous->chosen.size(0)) &&
                      std::is_sorted(fed.begin(), fed.end()) && fed.back() == static_cast<int64_t>(fed.size()) - 1;
    ids = same ? previous->chosen : previous->chosen.index_select(0, kernels::upload(at::tensor(fed, at::kLong), device));
    if (chunks.size() > decodes) {
      std::vector<int64_t> prompt_ids;
      for (size_t i = decodes; i < chunks.size(); ++i) prompt_ids.insert(prompt_ids.end(), chunks[i].ids.begin(), chunks[i].ids.end());
      ids = at::cat({ids, kernels::upload(at::tensor(prompt_ids, at::kLong), device)});
    }
  }
  const bool probed = std::any_of(chunks.begin(), chunks.end(), [](const SequenceChunk& c) { return c.probe != nullptr; });
  l->graphed = graphs_ && !probed && graphs_->fits(chunks);
  const at::Tensor logits = l->graphed ? graphs_->step(chunks, ids) : model_->forward_last_on_device(chunks, ids);
  l->number = launched_++;
  for (size_t i = decodes; i < chunks.size(); ++i) l->members[i]->prefilled += static_cast<int64_t>(chunks[i].ids.size());
  choose_on_device(*l, logits, decodes, previous != nullptr);
  if (logits.is_cpu()) {
    l->logits_host = logits;
    l->chosen_host = l->chosen;
  } else {   // into pinned memory, at the link's speed, while the host goes on
    l->logits_host = at::empty(logits.sizes(), logits.options().device(at::kCPU).pinned_memory(true));
    l->logits_host.copy_(logits, /*non_blocking=*/true);
    if (l->chosen.defined()) {
      l->chosen_host = at::empty(l->chosen.sizes(), l->chosen.options().device(at::kCPU).pinned_memory(true));
      l->chosen_host.copy_(l->chosen, /*non_blocking=*/true);
    }
    l->copied.record(logits.device());
  }
  return l;
}

// The tokens of the step's completing rows without an observer, chosen on
// the device: one argmax when all of them are greedy, else kernels::choose_tokens
// with each row's parameters. A decode of a followed step is a token ahead of
// its records (its previous token is not accepted yet).
void Engine::choose_on_device(Launched& l, const at::Tensor& logits, size_t decodes, bool followed) const {
  std::vector<double> params;
  bool sampled = false;
  for (size_t i = 0; i < l.members.size(); ++i) {
    const Decoding& d = l.members[i]->decoding;
    if (!l.completes[i] || !d.chosen_on_device()) continue;
    l.chosen_rows.push_back(static_cast<int64_t>(i));
    const kernels::ChoiceParams p = d.choice(followed && i < decodes);
    params.insert(params.end(), {p.temperature, p.top_k, p.top_p, p.uniform});
    sampled |= !d.greedy();
  }
  if (l.chosen_rows.empty()) return;
  const at::Tensor rows = static_cast<size_t>(logits.size(0)) == l.chosen_rows.size()
                              ? logits
                              : logits.index_select(0, kernels::upload(at::tensor(l.chosen_rows, at::kLong), logits.device()));
  if (!sampled) {
    l.chosen = kernels::argmax_smallest_index(rows, kernels::NanCheck::deferred);
    return;
  }
  const auto n = static_cast<int64_t>(l.chosen_rows.size());
  l.chosen = kernels::choose_tokens(rows, kernels::upload(at::tensor(params, at::kDouble).view({n, kernels::kChoiceParams}), logits.device()));
}

void Engine::complete(Launched& l) {
  l.copied.wait();
  const auto batch = static_cast<int64_t>(l.members.size());
  std::vector<bool> live(l.members.size());
  for (size_t i = 0; i < l.members.size(); ++i) live[i] = !l.members[i]->decoding.done();
  int64_t produced = 0;
  size_t g = 0;
  for (int64_t i = 0; i < batch; ++i) {
    Active& a = *l.members[static_cast<size_t>(i)];
    std::optional<int32_t> chosen;
    if (g < l.chosen_rows.size() && l.chosen_rows[g] == i) chosen = static_cast<int32_t>(l.chosen_host.const_data_ptr<int64_t>()[g++]);
    // A prompt's inner chunk chooses nothing; a request that ended before this step drops its row.
    if (!l.completes[static_cast<size_t>(i)] || !live[static_cast<size_t>(i)]) continue;
    if (chosen && *chosen < 0) {
      throw std::runtime_error("no token for row " + std::to_string(i) + " of step " + std::to_string(l.number) +
                               (a.decoding.greedy() ? ": a NaN logit" : ": NaN logits, or an infinite maximum, to sample from"));
    }
    a.decoding.accept(l.logits_host[i], StepInputs{StepPlace{batch, i, l.number}, chosen, digests_.get(), options_.digests});
    ++produced;
  }
  digests_->run_queued();
  if (options_.prefix_cache) {
    for (size_t i = 0; i < l.members.size(); ++i) {
      Active& a = *l.members[i];
      if (!live[i] || !a.cache.has_unpublished_block()) continue;
      std::vector<int32_t> tokens = a.decoding.result().prompt_ids;
      const std::vector<int32_t>& out = a.decoding.result().output_ids;
      tokens.insert(tokens.end(), out.begin(), out.end());
      a.cache.publish(tokens);
    }
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.steps;
  stats_.largest_batch = std::max(stats_.largest_batch, batch);
  stats_.tokens += produced;
  stats_.graph_steps += l.graphed ? 1 : 0;
  stats_.pipelined_steps += l.followed ? 1 : 0;
}

void Engine::retire(Running& running, Launched* in_flight) {
  const auto ended = std::stable_partition(running.begin(), running.end(), [](const auto& a) { return !a->decoding.done(); });
  for (auto it = ended; it != running.end(); ++it) {
    fulfil(**it);
    if (in_flight != nullptr) in_flight->keep.push_back(std::move(*it));
  }
  running.erase(ended, running.end());
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

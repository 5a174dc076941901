// A thread-safe request API over one model: any number of threads submit
// requests; one scheduler thread batches them dynamically. Each step runs, in
// one ragged batch (DecoderModel::forward_last), the last token of every
// decoding request and prompt chunks of newly admitted ones, up to
// max_prefill_tokens tokens in all (a long prompt is prefilled over several
// steps, beside the decodes); a request joins at the next step after it
// arrives and leaves the step it finishes.
//
// Memory: the KV cache is one paged pool (core/models/kv_cache.h) of
// kv_cache_bytes. A request is admitted when the pool has the blocks for its
// prompt + max_new_tokens, else it waits (first come, first served) until
// finished requests free them; one that needs more than the whole pool is
// refused at submit() with bad_input. Nothing is preempted. With
// prefix_cache, a request starts after the longest prefix of its prompt whose
// blocks an earlier request computed and published. With pipeline, step t+1
// is launched before step t's records are taken (EngineOptions::pipeline).
//
// Under kernels::ModeGuard(batch_invariant) (the scheduler thread sets the
// engine's mode; the mode is process-wide) every request's tokens and per-step
// logits digests are bitwise those of generate() alone: projections, norms
// and MLP are computed row by row independently of the batch, attention
// reduces each sequence's own keys in an order fixed by positions (whatever
// the chunking of its prompt or the blocks it got), and sampling draws from
// (seed, stream, step).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/engine/digest_pool.h"
#include "core/engine/generate.h"
#include "core/models/decode_graphs.h"
#include "core/models/decoder.h"
#include "kernels/mode.h"

namespace lockstep {

struct EngineOptions {
  int64_t max_batch = 64;                  // requests in one step
  int64_t max_prefill_tokens = 8192;       // prompt tokens admitted per step (at least one request)
  kernels::Mode mode = kernels::Mode::batch_invariant;
  // KV-cache budget in bytes; 0: min(max_batch full contexts, 2 GiB on the
  // CPU or 8 GiB on a GPU).
  int64_t kv_cache_bytes = 0;
  int64_t kv_block_size = KvPool::kDefaultBlockSize;
  // Threads that hash each step's logits while the next step runs; -1:
  // DigestPool::default_threads(), 0: after each step's token choice, spread
  // over libtorch's intra-op threads.
  int64_t digest_threads = -1;
  // false: no per-step digests or top candidates (to measure their cost).
  bool digests = true;
  // Reuse the computed KV of earlier requests' common prefixes (a system
  // prompt, a session's earlier turns): bitwise the same as recomputing them
  // in batch_invariant mode (core/models/kv_cache.h).
  bool prefix_cache = true;
  // On a GPU, in batch_invariant mode and with the mode off: decode steps
  // replay CUDA graphs (core/models/decode_graphs.h; piecewise around the
  // stock attention with the mode off), bitwise the eager step.
  bool cuda_graphs = true;
  // Launch step t+1 before taking step t's records when every token of step t
  // is a greedy one: the tokens go from step t's argmax to step t+1's input
  // on the device, and the host hashes, checks stops and plans while the GPU
  // runs. A request that ends at step t (EOS, a stop) has a row in step t+1
  // that is computed and dropped (its own cache, within its reserved blocks;
  // a request whose max_new_tokens ends at step t gets none). Bits do not
  // change: a row never depends on the others.
  bool pipeline = true;
  // Runs on the scheduler thread before its first step (thread-local
  // settings of the caller's, e.g. a test build's fault label).
  std::function<void()> on_scheduler_start;
};

struct EngineStats {
  int64_t steps = 0;
  int64_t requests = 0;
  int64_t largest_batch = 0;               // most requests in one step
  int64_t tokens = 0;                      // tokens generated
  int64_t kv_blocks = 0;                   // blocks in the KV pool
  int64_t kv_block_size = 0;               // positions per block
  int64_t waited_for_memory = 0;           // steps in which a request waited for KV blocks
  int64_t reused_positions = 0;            // prompt positions taken from the prefix cache
  int64_t evicted_blocks = 0;              // published blocks evicted to make room
  int64_t graph_steps = 0;                 // decode steps replayed from a CUDA graph
  int64_t cancelled = 0;                   // requests ended by GenerateOptions::cancel
  int64_t pipelined_steps = 0;             // steps launched before the previous step's records
};

class Engine {
 public:
  Engine(std::shared_ptr<const DecoderModel> model, std::vector<int32_t> eos_ids, EngineOptions options = {});
  // Finishes the requests already submitted, then stops.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates at once (bad_input thrown here for bad options, token ids out
  // of the vocabulary, an empty or too long prompt, or a request larger than
  // the whole KV cache); the future holds the result or the error of the step.
  std::future<Generation> submit(std::vector<int32_t> prompt_ids, GenerateOptions options,
                                 StepObserver observer = {});
  struct Request {
    std::vector<int32_t> prompt_ids;
    GenerateOptions options;
    StepObserver observer;
  };
  // Every request validated first (nothing is queued if one is bad), then
  // all queued at once, so that, with room in the batch and the KV pool,
  // they are admitted in the same step, in this order (their rows).
  std::vector<std::future<Generation>> submit_all(std::vector<Request> requests);
  EngineStats stats() const;

 private:
  struct Active {
    Decoding decoding;
    KvCache cache;               // empty until admitted
    std::promise<Generation> promise;
    int64_t prefilled = 0;       // prompt tokens already in the cache
  };
  using Running = std::vector<std::unique_ptr<Active>>;
  struct Launched;   // a step on its way (engine.cpp)
  std::unique_ptr<Active> make_active(Request request) const;
  void enqueue(std::vector<std::unique_ptr<Active>> actives);
  void loop();
  // Under the lock. Requests that end here while `in_flight` runs over their
  // caches stay alive in it until it is complete.
  void admit(Running& running, Launched* in_flight);
  // Plans and launches a step of `running` (null: nobody to run). After
  // `previous` (launched, not complete): its tokens, chosen and still on the
  // device, are the inputs of its decoding members.
  std::unique_ptr<Launched> launch(Running& running, const Launched* previous);
  void choose_on_device(Launched& step, const at::Tensor& logits, size_t decodes, bool followed) const;
  bool can_follow(const Launched& previous, const Running& running) const;
  // Waits for the step's results, then records them (Decoding::accept).
  void complete(Launched& step);
  // Fulfils the requests that ended; they stay alive in `in_flight`, if any.
  void retire(Running& running, Launched* in_flight);
  // The promise gets the request's result (or the error taking it raised).
  static void fulfil(Active& a);
  // Under the lock: ends a cancelled request (GenerateOptions::cancel) and fulfils it.
  void finish(Active& a);

  std::shared_ptr<const DecoderModel> model_;
  std::vector<int32_t> eos_ids_;
  EngineOptions options_;
  std::shared_ptr<KvPool> pool_;
  std::unique_ptr<DecodeGraphs> graphs_;   // CUDA, batch_invariant or off, cuda_graphs
  std::unique_ptr<DigestPool> digests_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Active>> waiting_;
  bool stopping_ = false;
  EngineStats stats_;
  int64_t launched_ = 0;   // steps launched (the scheduler thread's own)
  std::thread scheduler_;
};

}  // namespace lockstep

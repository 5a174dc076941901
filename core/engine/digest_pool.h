// Worker threads for the per-step records that no token choice waits for:
// the SHA-256 of a step's raw logits and its top candidates. The engine hands
// each row to the pool and goes on with the next step; a request's result is
// released only after its own rows are done (Decoding::take waits), so the
// records are complete and identical to computing them inline.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace lockstep {

class DigestPool {
 public:
  // threads = 0: tasks wait in the queue until run_queued() runs them.
  explicit DigestPool(int64_t threads);
  ~DigestPool();
  DigestPool(const DigestPool&) = delete;
  DigestPool& operator=(const DigestPool&) = delete;

  // Threads the engine uses by default on this machine: a quarter of the
  // hardware threads, at least 1 and at most 4 (on 2 cores, SmolLM2 fp32 at
  // batch 32: digests cost 4% of tokens/s with one thread, 6% spread over
  // the intra-op threads after each step; core/PERF-history.md).
  static int64_t default_threads();
  std::future<void> submit(std::function<void()> task);
  // Without threads: runs the queued tasks now, spread over libtorch's
  // intra-op threads (at::parallel_for), and returns when they are done.
  // With threads: nothing (the workers run them).
  void run_queued();

 private:
  void work();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace lockstep

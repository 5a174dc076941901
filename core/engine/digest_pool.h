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
  // threads = 0: every task runs inline in submit().
  explicit DigestPool(int64_t threads);
  ~DigestPool();
  DigestPool(const DigestPool&) = delete;
  DigestPool& operator=(const DigestPool&) = delete;

  // Threads the engine uses by default on this machine: a quarter of the
  // hardware threads, at most 4 (none on a 2-core machine, where they would
  // only take cores from the forward pass).
  static int64_t default_threads();
  int64_t threads() const { return static_cast<int64_t>(workers_.size()); }
  std::future<void> submit(std::function<void()> task);

 private:
  void work();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace lockstep

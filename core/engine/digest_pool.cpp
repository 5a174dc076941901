#include "core/engine/digest_pool.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <utility>

namespace lockstep {

DigestPool::DigestPool(int64_t threads) {
  for (int64_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

DigestPool::~DigestPool() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

int64_t DigestPool::default_threads() {
  const int64_t hw = static_cast<int64_t>(std::thread::hardware_concurrency());
  return std::clamp<int64_t>(hw / 4, 1, 4);
}

std::future<void> DigestPool::submit(std::function<void()> task) {
  std::packaged_task<void()> packaged(std::move(task));
  std::future<void> done = packaged.get_future();
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(packaged));
  }
  wake_.notify_one();
  return done;
}

void DigestPool::run_queued() {
  if (!workers_.empty()) return;
  std::deque<std::packaged_task<void()>> tasks;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    tasks.swap(queue_);
  }
  at::parallel_for(0, static_cast<int64_t>(tasks.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) tasks[static_cast<size_t>(i)]();
  });
}

void DigestPool::work() {
  for (;;) {
    std::packaged_task<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;   // stopping, nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace lockstep

#include "core/engine/digest_pool.h"

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
  return std::min<int64_t>(4, hw / 4);
}

std::future<void> DigestPool::submit(std::function<void()> task) {
  std::packaged_task<void()> packaged(std::move(task));
  std::future<void> done = packaged.get_future();
  if (workers_.empty()) {
    packaged();
    return done;
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(packaged));
  }
  wake_.notify_one();
  return done;
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

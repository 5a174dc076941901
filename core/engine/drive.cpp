#include "core/engine/drive.h"

#include <chrono>
#include <exception>
#include <future>
#include <thread>

#include "core/error.h"

namespace lockstep {

std::vector<Generation> submit_concurrently(Engine& engine, const std::vector<TimedRequest>& requests,
                                            int64_t threads) {
  if (threads < 1) throw bad_input("submit_concurrently: threads must be at least 1");
  std::vector<std::future<Generation>> futures(requests.size());
  std::vector<std::exception_ptr> submit_errors(requests.size());
  std::vector<std::thread> workers;
  for (int64_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < requests.size(); i += static_cast<size_t>(threads)) {
        std::this_thread::sleep_for(std::chrono::microseconds(requests[i].delay_us));
        try {
          futures[i] = engine.submit(requests[i].prompt, requests[i].options);
        } catch (...) {
          submit_errors[i] = std::current_exception();
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  std::vector<Generation> out(requests.size());
  std::exception_ptr first;
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      if (submit_errors[i]) std::rethrow_exception(submit_errors[i]);
      out[i] = futures[i].get();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
  return out;
}

}  // namespace lockstep

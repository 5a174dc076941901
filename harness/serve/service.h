// The model side of `lockstep serve`, without HTTP: turns parsed API
// requests into engine requests (prompt ids from the text or the chat
// template, one GenerateOptions per choice), runs them through the one
// batching Engine every connection shares, and builds the answers — whole,
// or as server-sent events while the tokens arrive.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/engine/model_bundle.h"
#include "harness/serve/api_request.h"
#include "harness/serve/api_response.h"
#include "harness/sessions/text_stream.h"

namespace lockstep::serve {

// A request ready for the engine.
struct Prepared {
  ApiRequest request;
  std::vector<int32_t> prompt_ids;
  std::vector<GenerateOptions> choices;   // choice i samples from RNG stream i
  std::string id;                         // "cmpl-..." / "chatcmpl-..."
  int64_t created = 0;                    // Unix seconds
};

class EventStream;

class Service {
 public:
  Service(std::shared_ptr<const ModelBundle> bundle, Identity identity, EngineOptions engine, ApiLimits limits);
  const Identity& identity() const { return identity_; }
  const ApiLimits& limits() const { return limits_; }
  EngineStats stats() const { return engine_.stats(); }

  // GET /v1/models.
  json models() const;
  // ApiError: 404 for another model's name, 400 for a prompt the model
  // cannot take (no chat template, too long for the context, ...).
  Prepared prepare(ApiRequest request) const;
  // Runs every choice and waits for the whole answer.
  json respond(const Prepared& prepared);
  // Starts every choice; the answer arrives as server-sent events.
  std::shared_ptr<EventStream> stream(const Prepared& prepared);

 private:
  friend class EventStream;
  std::vector<std::future<Generation>> submit(const Prepared& prepared,
                                              const std::function<void(size_t, int32_t, bool, const StepLogprobs*)>& on_token,
                                              std::shared_ptr<const std::atomic<bool>> cancel = nullptr);
  json envelope(const Prepared& prepared, bool chunk) const;
  json usage(const Prepared& prepared, int64_t completion_tokens) const;

  std::shared_ptr<const ModelBundle> bundle_;
  Identity identity_;
  ApiLimits limits_;
  Engine engine_;
  mutable std::atomic<uint64_t> next_id_{0};
};

// One streamed answer: the engine's thread queues each choice's tokens; the
// connection's thread turns them into SSE messages ("data: {...}\n\n",
// then "data: [DONE]\n\n"). An engine error ends the stream with an error event.
class EventStream {
 public:
  EventStream(Service& service, const Prepared& prepared);
  // A stream dropped before its end (the client left: httplib releases the
  // content provider holding it) cancels its choices in the engine, which
  // frees their batch rows and KV blocks before its next step.
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;
  // Waits up to `wait` for tokens; returns the SSE text to send now (may be empty).
  std::string next(std::chrono::milliseconds wait);
  bool done() const { return done_; }

 private:
  struct Event {
    size_t choice = 0;
    int32_t token = 0;
    bool last = false;
    std::optional<StepLogprobs> logprobs;
  };
  struct Choice {
    std::unique_ptr<harness::TextStream> text;
    std::future<Generation> result;
    size_t offset = 0;        // text bytes sent (completions' text_offset)
    bool started = false;     // chat: the role delta was sent
    bool finished = false;
  };
  std::string chunk(size_t choice, const std::string& text, const std::vector<StepLogprobs>& logprobs,
                    const Generation* finished);
  std::string finish_all();

  Service& service_;
  Prepared prepared_;
  std::chrono::steady_clock::time_point start_;
  struct Queue {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Event> events;
  };
  std::shared_ptr<Queue> queue_;
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
  std::vector<Choice> choices_;
  int64_t completion_tokens_ = 0;
  bool done_ = false;
};

// "data: <json>\n\n".
std::string sse(const json& message);

}  // namespace lockstep::serve

#include "harness/serve/service.h"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep::serve {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The client's fault (bad input) is a 400; anything else stays what it is.
[[noreturn]] void rethrow_as_api_error(const Error& e, const std::string& param) {
  if (e.kind() == ErrorKind::bad_input) throw ApiError(400, e.what(), param);
  throw;
}

}  // namespace

std::string sse(const json& message) { return "data: " + message.dump() + "\n\n"; }

Service::Service(std::shared_ptr<const ModelBundle> bundle, Identity identity, EngineOptions engine, ApiLimits limits)
    : bundle_(std::move(bundle)),
      identity_(std::move(identity)),
      limits_(limits),
      engine_(std::shared_ptr<const DecoderModel>(bundle_, &bundle_->model), bundle_->eos_ids(), engine) {}

json Service::models() const {
  json model{{"id", identity_.served_name}, {"object", "model"}, {"created", 0}, {"owned_by", "lockstep"},
             {"max_model_len", bundle_->model.config().context},
             {"lockstep", json{{"model_sha256", identity_.model_sha256}, {"mode", identity_.environment.mode},
                               {"device", identity_.environment.device}, {"dtype", identity_.environment.dtype}}}};
  return json{{"object", "list"}, {"data", json::array({model})}};
}

Prepared Service::prepare(ApiRequest request) const {
  if (!request.model.empty() && request.model != identity_.served_name) {
    throw ApiError(404, fmt::format("the model '{}' does not exist: this server serves '{}'", request.model,
                                    identity_.served_name), "model", "not_found_error");
  }
  Prepared p;
  const Tokenizer& tokenizer = bundle_->tokenizer;
  try {
    if (request.kind == ApiRequest::Kind::chat) {
      if (!bundle_->chat_template) {
        throw ApiError(400, fmt::format("this model has no usable chat template ({}): use /v1/completions",
                                        bundle_->chat_template_error), "messages");
      }
      p.prompt_ids = tokenizer.encode(bundle_->chat_template->render(request.messages, true), /*parse_special=*/true);
    } else if (request.prompt_text) {
      p.prompt_ids = bundle_->prompt_ids(*request.prompt_text, /*raw=*/true);
    } else {
      for (int32_t id : request.prompt_ids) {
        if (id >= tokenizer.vocab_size()) {
          throw ApiError(400, fmt::format("token id {} is outside the vocabulary of {}", id, tokenizer.vocab_size()), "prompt");
        }
      }
      p.prompt_ids = request.prompt_ids;
    }
  } catch (const Error& e) {
    rethrow_as_api_error(e, request.kind == ApiRequest::Kind::chat ? "messages" : "prompt");
  }
  const int64_t context = bundle_->model.config().context;
  const auto prompt = static_cast<int64_t>(p.prompt_ids.size());
  if (prompt == 0) throw ApiError(400, "the prompt has no tokens", "prompt");
  if (prompt >= context) {
    throw ApiError(400, fmt::format("the prompt has {} tokens; the model's context is {}", prompt, context), "prompt");
  }
  const int64_t max_tokens = request.max_tokens.value_or(
      request.kind == ApiRequest::Kind::chat ? std::min(limits_.max_tokens, context - prompt) : 16);
  if (prompt + max_tokens > context) {
    throw ApiError(400, fmt::format("the prompt ({} tokens) and max_tokens ({}) exceed the model's context of {}",
                                    prompt, max_tokens, context), "max_tokens");
  }
  for (int64_t i = 0; i < request.n; ++i) {
    GenerateOptions o;
    o.max_new_tokens = max_tokens;
    o.stop_at_eos = !request.ignore_eos;
    o.stop_strings = request.stop;
    const std::shared_ptr<const ModelBundle> bundle = bundle_;
    o.detokenize = [bundle](const std::vector<int32_t>& ids) { return bundle->tokenizer.decode(ids); };
    o.sampling.temperature = request.temperature;
    o.sampling.top_k = request.top_k;
    o.sampling.top_p = request.top_p;
    o.sampling.seed = request.seed;
    o.sampling.stream = static_cast<uint64_t>(i);
    o.logprobs = request.logprobs;
    try {
      validate(o);
    } catch (const Error& e) {
      rethrow_as_api_error(e, "");
    }
    p.choices.push_back(std::move(o));
  }
  const bool chat = request.kind == ApiRequest::Kind::chat;
  p.created = static_cast<int64_t>(std::time(nullptr));
  p.id = fmt::format("{}-{:x}{:08x}", chat ? "chatcmpl" : "cmpl", p.created, next_id_++);
  p.request = std::move(request);
  return p;
}

std::vector<std::future<Generation>> Service::submit(
    const Prepared& prepared, const std::function<void(size_t, int32_t, bool, const StepLogprobs*)>& on_token,
    std::shared_ptr<const std::atomic<bool>> cancel) {
  std::vector<Engine::Request> requests;
  for (size_t i = 0; i < prepared.choices.size(); ++i) {
    Engine::Request r{prepared.prompt_ids, prepared.choices[i], {}};
    r.options.cancel = cancel;
    if (on_token) {
      r.options.on_token = [on_token, i](int32_t token, bool last, const StepLogprobs* lp) { on_token(i, token, last, lp); };
    }
    requests.push_back(std::move(r));
  }
  try {
    return engine_.submit_all(std::move(requests));
  } catch (const Error& e) {
    rethrow_as_api_error(e, "");
  }
}

json Service::envelope(const Prepared& p, bool chunk) const {
  const bool chat = p.request.kind == ApiRequest::Kind::chat;
  const char* object = chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return json{{"id", p.id}, {"object", object}, {"created", p.created}, {"model", identity_.served_name}};
}

json Service::usage(const Prepared& p, int64_t completion_tokens) const {
  const auto prompt = static_cast<int64_t>(p.prompt_ids.size());
  return json{{"prompt_tokens", prompt}, {"completion_tokens", completion_tokens},
              {"total_tokens", prompt + completion_tokens}};
}

json Service::respond(const Prepared& p) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<Generation>> futures = submit(p, {});
  const bool chat = p.request.kind == ApiRequest::Kind::chat;
  json choices = json::array(), records = json::array();
  int64_t completion_tokens = 0;
  for (size_t i = 0; i < futures.size(); ++i) {
    const Generation g = futures[i].get();
    const double seconds = seconds_since(start);
    harness::TextStream text(bundle_->tokenizer, bundle_->eos_ids(), p.request.stop);
    for (int32_t id : g.output_ids) text.push(id);
    text.finish();
    json choice{{"index", i}};
    if (chat) {
      choice["message"] = json{{"role", "assistant"}, {"content", text.text()}};
    } else {
      choice["text"] = text.text();
    }
    choice["logprobs"] = p.request.logprobs >= 0
                             ? logprobs_json(p.request.kind, bundle_->tokenizer, g.step_logprobs)
                             : json(nullptr);
    choice["finish_reason"] = finish_reason(g.stop_reason);
    choices.push_back(std::move(choice));
    records.push_back(choice_record(static_cast<int64_t>(i), p.choices[i].sampling.stream, g, seconds));
    completion_tokens += static_cast<int64_t>(g.output_ids.size());
  }
  json out = envelope(p, false);
  out["choices"] = std::move(choices);
  out["usage"] = usage(p, completion_tokens);
  out["lockstep"] = lockstep_field(identity_, std::move(records));
  return out;
}

std::shared_ptr<EventStream> Service::stream(const Prepared& prepared) {
  return std::make_shared<EventStream>(*this, prepared);
}

EventStream::EventStream(Service& service, const Prepared& prepared)
    : service_(service), prepared_(prepared), start_(std::chrono::steady_clock::now()), queue_(std::make_shared<Queue>()) {
  std::shared_ptr<Queue> queue = queue_;   // the engine may outlive this stream (a client that left)
  std::vector<std::future<Generation>> futures = service_.submit(
      prepared_, [queue](size_t choice, int32_t token, bool last, const StepLogprobs* lp) {
        Event e{choice, token, last, lp ? std::optional<StepLogprobs>(*lp) : std::nullopt};
        {
          const std::lock_guard<std::mutex> lock(queue->mutex);
          queue->events.push_back(std::move(e));
        }
        queue->ready.notify_one();
      },
      cancel_);
  for (std::future<Generation>& f : futures) {
    Choice c;
    c.text = std::make_unique<harness::TextStream>(service_.bundle_->tokenizer, service_.bundle_->eos_ids(),
                                                   prepared_.request.stop);
    c.result = std::move(f);
    choices_.push_back(std::move(c));
  }
}

EventStream::~EventStream() {
  if (!done_) *cancel_ = true;
}

std::string EventStream::chunk(size_t i, const std::string& text, const std::vector<StepLogprobs>& logprobs,
                               const Generation* finished) {
  const ApiRequest& r = prepared_.request;
  Choice& c = choices_[i];
  json choice{{"index", i}};
  if (r.kind == ApiRequest::Kind::chat) {
    json delta = json::object();
    if (!c.started) delta["role"] = "assistant";
    if (!text.empty() || !c.started) delta["content"] = text;
    c.started = true;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = r.logprobs >= 0 && !logprobs.empty()
                           ? logprobs_json(r.kind, service_.bundle_->tokenizer, logprobs, c.offset)
                           : json(nullptr);
  choice["finish_reason"] = finished ? json(finish_reason(finished->stop_reason)) : json(nullptr);
  c.offset += text.size();
  json out = service_.envelope(prepared_, true);
  out["choices"] = json::array({std::move(choice)});
  if (finished) {
    out["lockstep"] = lockstep_field(service_.identity_, json::array({choice_record(
        static_cast<int64_t>(i), prepared_.choices[i].sampling.stream, *finished, seconds_since(start_))}));
  }
  return sse(out);
}

std::string EventStream::next(std::chrono::milliseconds wait) {
  if (done_) return {};
  std::deque<Event> events;
  {
    std::unique_lock<std::mutex> lock(queue_->mutex);
    queue_->ready.wait_for(lock, wait, [&] { return !queue_->events.empty(); });
    events.swap(queue_->events);
  }
  std::string out;
  try {
    for (Event& e : events) {
      Choice& c = choices_[e.choice];
      std::vector<StepLogprobs> lp;
      if (e.logprobs) lp.push_back(std::move(*e.logprobs));
      std::string text = c.text->push(e.token);
      if (!e.last) {
        if (!text.empty() || !lp.empty() || !c.started) out += chunk(e.choice, text, lp, nullptr);
        continue;
      }
      text += c.text->finish();
      const Generation g = c.result.get();   // set just after the last token
      completion_tokens_ += static_cast<int64_t>(g.output_ids.size());
      c.finished = true;
      out += chunk(e.choice, text, lp, &g);
    }
    if (events.empty()) {
      // No token for a while: a choice whose result is ready while nothing is
      // queued ended in an error (a finished choice's last token is queued
      // before its result is set). get() only then: it consumes the result.
      for (Choice& c : choices_) {
        if (c.finished || c.result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) continue;
        bool queued = false;
        {
          const std::lock_guard<std::mutex> lock(queue_->mutex);
          queued = !queue_->events.empty();
        }
        if (!queued) c.result.get();
      }
    }
  } catch (const std::exception& e) {
    done_ = true;
    return out + sse(error_body(ApiError(500, fmt::format("the generation failed: {}", e.what()), "", "server_error"))) +
           "data: [DONE]\n\n";
  }
  if (std::all_of(choices_.begin(), choices_.end(), [](const Choice& c) { return c.finished; })) out += finish_all();
  return out;
}

std::string EventStream::finish_all() {
  done_ = true;
  std::string out;
  if (prepared_.request.include_usage) {
    json u = service_.envelope(prepared_, true);
    u["choices"] = json::array();
    u["usage"] = service_.usage(prepared_, completion_tokens_);
    out += sse(u);
  }
  return out + "data: [DONE]\n\n";
}

}  // namespace lockstep::serve

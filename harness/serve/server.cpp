#include "harness/serve/server.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "core/error.h"
#include "harness/env.h"

namespace lockstep::serve {
namespace {

sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.status == 429 || e.status == 503) res.set_header("Retry-After", "1");
  res.set_content(error_body(e).dump(), "application/json");
}

// Generations in flight: a slot is taken per request and given back when its
// answer (or stream) is done.
class Slots {
 public:
  explicit Slots(int64_t max) : max_(max) {}
  std::shared_ptr<void> take() {
    if (closed_) throw ApiError(503, "the server is shutting down", "", "server_error");
    if (++used_ > max_) {
      --used_;
      throw ApiError(429, fmt::format("more than {} requests in flight; retry shortly", max_), "", "rate_limit_error");
    }
    return std::shared_ptr<void>(nullptr, [this](void*) { --used_; });
  }
  int64_t used() const { return used_; }
  void close() { closed_ = true; }

 private:
  const int64_t max_;
  std::atomic<int64_t> used_{0};
  std::atomic<bool> closed_{false};
};

bool authorised(const httplib::Request& req, const std::string& key) {
  if (key.empty()) return true;
  const std::string expected = "Bearer " + key;
  const std::string given = req.get_header_value("Authorization");
  return given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

}  // namespace

void block_shutdown_signals() {
  const sigset_t set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int serve(Service& service, const ServerOptions& o, const std::function<void(const std::string&)>& on_listening) {
  httplib::Server server;
  Slots slots(o.max_concurrent);
  const auto threads = static_cast<size_t>(o.max_concurrent + 16);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(o.max_body_bytes);
  server.set_read_timeout(o.read_timeout_s, 0);
  server.set_write_timeout(o.write_timeout_s, 0);
  server.set_keep_alive_timeout(2);
  server.set_default_headers({{"x-lockstep-version", harness::lockstep_version()},
                              {"x-lockstep-mode", service.identity().environment.mode}});

  server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/health" || authorised(req, o.api_key)) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(401, "missing or wrong API key: send \"Authorization: Bearer <key>\"", "",
                             "authentication_error"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Every error answer is JSON, httplib's own included (404, 413, 400 for a malformed request).
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string what = res.status == 404   ? fmt::format("no route {} {}", req.method, req.path)
                             : res.status == 413 ? "the request body is too large"
                                                 : fmt::format("HTTP {}", res.status);
    res.set_content(error_body(ApiError(res.status, what)).dump(), "application/json");
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, "internal error: " + what, "", "server_error"));
  });
  if (o.log_requests) {
    server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::cerr << fmt::format("lockstep serve: {} {} {}\n", req.method, req.path, res.status);
    });
  }

  server.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    const EngineStats s = service.stats();
    const nlohmann::ordered_json health{
        {"status", "ok"},
        {"engine", {{"requests", s.requests}, {"tokens", s.tokens}, {"steps", s.steps}, {"largest_batch", s.largest_batch},
                    {"cancelled", s.cancelled}}}};
    res.set_content(health.dump(), "application/json");
  });
  server.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(service.models().dump(), "application/json");
  });
  auto generation = [&](ApiRequest::Kind kind) {
    return [&, kind](const httplib::Request& req, httplib::Response& res) {
      try {
        std::shared_ptr<void> slot = slots.take();
        ApiRequest r = kind == ApiRequest::Kind::chat ? parse_chat_request(req.body, service.limits())
                                                      : parse_completion_request(req.body, service.limits());
        const Prepared p = service.prepare(std::move(r));
        if (!p.request.stream) {
          res.set_content(service.respond(p).dump(), "application/json");
          return;
        }
        std::shared_ptr<EventStream> stream = service.stream(p);
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream",
            [stream](size_t, httplib::DataSink& sink) {
              const std::string text = stream->next(std::chrono::milliseconds(100));
              if (!text.empty() && !sink.write(text.data(), text.size())) return false;
              if (stream->done()) sink.done();
              return true;
            },
            [slot](bool) {});   // the slot is free once the stream ends or the client leaves
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::bad_input) throw;
        send_error(res, ApiError(400, e.what()));
      }
    };
  };
  server.Post("/v1/completions", generation(ApiRequest::Kind::completion));
  server.Post("/v1/chat/completions", generation(ApiRequest::Kind::chat));

  const int port = o.port == 0 ? server.bind_to_any_port(o.host) : (server.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) throw environment_error(fmt::format("cannot listen on {}:{} (in use, or not an address here)", o.host, o.port));

  std::atomic<bool> stopped{false};
  std::thread watcher([&] {
    const sigset_t set = shutdown_signals();
    const timespec tick{0, 200 * 1000 * 1000};
    while (!stopped) {
      const int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig < 0) continue;
      slots.close();
      std::cerr << fmt::format("lockstep serve: {}: no new requests; finishing {} in flight\n",
                               sig == SIGINT ? "SIGINT" : "SIGTERM", slots.used());
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.shutdown_timeout_s);
      while (slots.used() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (slots.used() > 0) std::cerr << fmt::format("lockstep serve: {} requests still in flight after {} s; stopping\n", slots.used(), o.shutdown_timeout_s);
      server.stop();
      return;
    }
  });
  on_listening(fmt::format("http://{}:{}", o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host, port));
  const bool ok = server.listen_after_bind();
  stopped = true;
  watcher.join();
  const EngineStats s = service.stats();
  std::cerr << fmt::format("lockstep serve: stopped after {} requests, {} tokens in {} steps (largest batch {})\n",
                           s.requests, s.tokens, s.steps, s.largest_batch);
  return ok || slots.used() == 0 ? 0 : 1;
}

}  // namespace lockstep::serve

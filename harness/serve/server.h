// The HTTP side of `lockstep serve` (cpp-httplib): routes, bearer-token
// auth, limits (body size, requests in flight, timeouts), JSON errors for
// everything a client can get wrong, and a graceful shutdown on SIGINT or
// SIGTERM: no new generations (503), the ones in flight finish, then exit.
//
//   GET  /health                200 {"status": "ok"} (no auth)
//   GET  /v1/models             the served model
//   POST /v1/completions        harness/serve/api_request.h
//   POST /v1/chat/completions
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "harness/serve/service.h"

namespace lockstep::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                    // 0: any free port
  std::string api_key;                // empty: no auth; else "Authorization: Bearer <key>"
  size_t max_body_bytes = 1 << 20;    // larger bodies: 413
  int64_t max_concurrent = 64;        // generations in flight; more: 429
  int read_timeout_s = 30;
  int write_timeout_s = 60;
  int shutdown_timeout_s = 300;       // how long in-flight generations may take to finish
  bool log_requests = false;          // one stderr line per request
};

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
// afterwards (call before the Service starts its engine), so that serve()
// alone receives them.
void block_shutdown_signals();

// Serves until SIGINT or SIGTERM. `on_listening` gets the base URL once the
// port is bound. Returns 0 after a clean shutdown; throws environment_error
// if the address cannot be bound.
int serve(Service& service, const ServerOptions& options, const std::function<void(const std::string&)>& on_listening);

}  // namespace lockstep::serve

// `lockstep serve`: the deterministic engine behind an OpenAI-compatible HTTP
// API (harness/serve/). Every connection's requests go through one batching
// engine; every answer carries lockstep's record of its bits.
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "core/engine/engine.h"
#include "core/error.h"
#include "harness/cli/command.h"
#include "harness/cli/session_load.h"
#include "harness/device_options.h"
#include "harness/endpoint/client.h"
#include "harness/serve/server.h"
#include "kernels/mode.h"

namespace lockstep::cli {
namespace {

struct ServeCliOptions {
  std::string model, served_name, api_key_env;
  std::string mode = kDefaultMode;
  std::string device = "cpu";
  std::string dtype = "fp32";
  serve::ServerOptions server;
  serve::ApiLimits limits;
  int64_t max_batch = 64;
};

int serve_main(ServeCliOptions o) {
  if (o.server.port < 0 || o.server.port > 65535) throw bad_input("--port must be from 0 to 65535");
  if (o.server.max_concurrent < 1) throw bad_input("--max-concurrent must be at least 1");
  if (o.max_batch < 1) throw bad_input("--max-batch must be at least 1");
  if (o.limits.max_tokens < 1) throw bad_input("--max-tokens must be at least 1");
  if (o.server.max_body_bytes < 1024) throw bad_input("--max-body-bytes must be at least 1024");
  o.limits.max_prompt_bytes = o.server.max_body_bytes;
  if (!o.api_key_env.empty()) o.server.api_key = harness::api_key_from_env(o.api_key_env);
  // Before any thread starts (libtorch's and OpenMP's during the load, the
  // engine's): a SIGTERM during the load then stops the server once it is up.
  serve::block_shutdown_signals();
  const kernels::ModeGuard mode(mode_option(o.mode));
  Loaded l = load_for_session("serve", o.model, o.device, o.dtype);
  l.environment.mode = o.mode;
  serve::Identity identity{o.served_name.empty() ? l.bundle->name : o.served_name, l.path, l.sha256, l.environment};

  EngineOptions engine;
  engine.max_batch = o.max_batch;
  engine.mode = kernels::mode();
  // Shared prefixes' KV is reused only where that is bitwise a recompute.
  engine.prefix_cache = kernels::mode() == kernels::Mode::batch_invariant;
  serve::Service service(l.bundle, identity, engine, o.limits);
  return serve::serve(service, o.server, [&](const std::string& url) {
    std::cerr << fmt::format("lockstep serve: listening on {} (model '{}', mode {}, {} {}{})\n", url,
                             identity.served_name, o.mode, o.device, o.dtype,
                             o.server.api_key.empty() ? "" : ", API key required")
              << std::flush;
  });
}

}  // namespace

Command add_serve_command(CLI::App& parent) {
  const char* about =
      "Serve the model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, "
      "/v1/models, /health) through the batching engine; every answer carries its bits' record.";
  return options_command<ServeCliOptions>(parent, "serve", about, serve_main, [](CLI::App* app, ServeCliOptions& o) {
    app->add_option("--model", o.model, kModelHelp);
    app->add_option("--served-model-name", o.served_name, "The model id clients name (default: the model's name)");
    app->add_option("--host", o.server.host, "Address to bind (a non-local address exposes the server)")->capture_default_str();
    app->add_option("--port", o.server.port, "Port (0: any free port, printed at start)")->capture_default_str();
    app->add_option("--api-key-env", o.api_key_env,
                    "Name of an environment variable holding the API key clients must send as \"Authorization: Bearer "
                    "<key>\" (never the key itself on the command line)");
    add_engine_options(app, o.mode, o.device, o.dtype);
    app->add_option("--max-batch", o.max_batch, "Most sequences in one engine step")->capture_default_str();
    app->add_option("--max-concurrent", o.server.max_concurrent, "Most generation requests in flight; more get 429")
        ->capture_default_str();
    app->add_option("--max-tokens", o.limits.max_tokens, "The largest max_tokens a request may ask for")->capture_default_str();
    app->add_option("--max-n", o.limits.max_n, "The largest n (choices) a request may ask for")->capture_default_str();
    app->add_option("--max-body-bytes", o.server.max_body_bytes, "Largest request body; larger ones get 413")
        ->capture_default_str();
    app->add_option("--read-timeout", o.server.read_timeout_s, "Seconds to wait for a request's bytes")->capture_default_str();
    app->add_option("--write-timeout", o.server.write_timeout_s, "Seconds to wait for a client to take bytes")
        ->capture_default_str();
    app->add_option("--shutdown-timeout", o.server.shutdown_timeout_s,
                    "On SIGTERM/SIGINT: seconds in-flight requests may take to finish")->capture_default_str();
    app->add_flag("--log-requests", o.server.log_requests, "One stderr line per request");
    app->footer(
        "Requests follow OpenAI's API with lockstep's rules: no `temperature` means greedy (OpenAI's default is 1); "
        "sampling needs a `seed`; n > 1 gives choice i RNG stream i; unknown fields and unsupported options "
        "(penalties, logit_bias, echo, tools) are refused with 400, never ignored; `logprobs` are the fixed-order "
        "log-softmax of the raw logits. Every answer holds a `lockstep` field: prompt and output ids, each step's "
        "raw-logits SHA-256 and batch size, the model's SHA-256 and the environment.\n"
        "Exit codes: 0 stopped cleanly (SIGTERM/SIGINT); 2 bad option; 3 environment (model, port).");
  });
}

}  // namespace lockstep::cli

#include "harness/cli/endpoint_options.h"

namespace lockstep::cli {

std::optional<harness::EndpointLevel> EndpointCli::level_asked() const {
  if (level.empty()) return std::nullopt;
  return harness::parse_endpoint_level(level);
}

void add_endpoint_options(CLI::App* app, EndpointCli& o, const std::string& what, bool with_level) {
  app->add_option("--endpoint", o.url, what);
  app->add_option("--api-key-env", o.api_key_env,
                  "With --endpoint: the environment variable holding the API key (never the key on the command line)");
  app->add_option("--endpoint-model", o.model,
                  "With --endpoint: the \"model\" every request names (default: the first id /v1/models lists; "
                  "none if it lists none)");
  app->add_option("--endpoint-timeout", o.timeout_s, "With --endpoint: seconds to wait for one answer")
      ->capture_default_str();
  if (with_level) {
    app->add_option("--endpoint-level", o.level,
                    "With --endpoint: bits (lockstep serve's record), logprobs (the returned logprobs, exact) or "
                    "tokens (the returned tokens or text); default: the best the server allows");
  }
}

harness::EndpointOptions endpoint_options(const EndpointCli& o) {
  harness::EndpointOptions e;
  e.url = o.url;
  e.model = o.model;
  e.timeout_s = o.timeout_s;
  if (o.timeout_s < 1) throw bad_input("--endpoint-timeout must be at least 1 second");
  if (!o.api_key_env.empty()) e.api_key = harness::api_key_from_env(o.api_key_env);
  return e;
}

}  // namespace lockstep::cli

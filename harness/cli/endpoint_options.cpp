#include "harness/cli/endpoint_options.h"

namespace lockstep::cli {

void add_endpoint_options(CLI::App* app, EndpointCli& o, const std::string& what) {
  app->add_option("--endpoint", o.url, what);
  app->add_option("--api-key-env", o.api_key_env,
                  "With --endpoint: the environment variable holding the API key (never the key on the command line)");
  app->add_option("--endpoint-model", o.model,
                  "With --endpoint: the \"model\" every request names (default: the first id /v1/models lists; "
                  "none if it lists none)");
  app->add_option("--endpoint-timeout", o.timeout_s, "With --endpoint: seconds to wait for one answer")
      ->capture_default_str();
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

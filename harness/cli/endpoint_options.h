// The options every command that can drive an OpenAI-compatible server
// shares (verify, bench, stress, sweep, compare): --endpoint URL,
// --api-key-env NAME, --endpoint-model NAME, --endpoint-timeout S, and (all
// but compare, which counts every level) --endpoint-level.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "harness/endpoint/client.h"
#include "harness/endpoint/endpoint_verify.h"

namespace lockstep::cli {

struct EndpointCli {
  std::string url;            // "": the in-process engine
  std::string api_key_env;    // the variable holding the API key (never the key in argv)
  std::string model;          // "model" sent in requests ("": the first id of /v1/models)
  int timeout_s = 600;        // per request
  std::string level;          // bits | logprobs | tokens ("": the best the server allows)
  bool given() const { return !url.empty(); }
  // The --endpoint-level asked for (bad_input for another name).
  std::optional<harness::EndpointLevel> level_asked() const;
};

// Adds the options (--endpoint-level with `with_level`); `what` is --endpoint's help text.
void add_endpoint_options(CLI::App* app, EndpointCli& o, const std::string& what, bool with_level);
// The client's options (the API key read from its variable: bad_input if unset).
harness::EndpointOptions endpoint_options(const EndpointCli& o);

}  // namespace lockstep::cli

// The options every command that can drive an OpenAI-compatible server
// shares (verify, bench, stress, sweep, compare): --endpoint URL,
// --api-key-env NAME, --endpoint-model NAME, --endpoint-timeout S.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "harness/endpoint/client.h"

namespace lockstep::cli {

struct EndpointCli {
  std::string url;            // "": the in-process engine
  std::string api_key_env;    // the variable holding the API key (never the key in argv)
  std::string model;          // "model" sent in requests ("": the first id of /v1/models)
  int timeout_s = 600;        // per request
  bool given() const { return !url.empty(); }
};

// Adds the four options; `what` is --endpoint's help text.
void add_endpoint_options(CLI::App* app, EndpointCli& o, const std::string& what);
// The client's options (the API key read from its variable: bad_input if unset).
harness::EndpointOptions endpoint_options(const EndpointCli& o);

}  // namespace lockstep::cli

// `compare --endpoint URL`: one request sent RUNS times to a server, each
// time beside 1..MAX_FILLERS concurrent seeded requests; how many different
// answers does it get, at each level the server allows (tokens, logprobs,
// bits; harness/endpoint/endpoint_verify.h)? A deterministic server gives
// exactly one at every level.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/endpoint/client.h"
#include "harness/suite.h"

namespace lockstep::harness {

struct EndpointCompareSettings {
  EndpointOptions endpoint;
  SuiteCase target;
  int64_t runs = 20;
  int64_t max_fillers = 16;
  int64_t max_tokens = 8;
  uint64_t seed = 1;
};

// {"schema": "lockstep.compare-endpoint/0", "server", "target", "settings",
//  "unique": {"tokens": n, "logprobs": n or null, "bits": n or null}, "best_level", "verdict", "runs": [...]}
nlohmann::ordered_json run_endpoint_compare(const EndpointCompareSettings& s,
                                            const std::function<void(const std::string&)>& progress);

}  // namespace lockstep::harness

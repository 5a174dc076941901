// `sweep --endpoint URL`: the sweep of harness/runs/sweep.h against a server,
// where the batch variable becomes concurrency. For every prompt length L
// (words) a target prompt of L seeded random words is sent, greedy, at
// every concurrency level C: alone (C = 1) or together with C-1 seeded
// random requests (harness/endpoint/endpoint_verify.h's fillers). Each
// length is a case ("len-L") whose reference is its answer at the first
// level; every other level is a run ("concurrency-C", kind batch) compared
// with it at the level the server allows (bits, logprobs or tokens), so
// results.json, JUnit and the report's heatmap come from VerifyResults.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "harness/endpoint/client.h"
#include "harness/endpoint/endpoint_verify.h"
#include "harness/results/results.h"
#include "harness/runs/verifier.h"

namespace lockstep::harness {

struct EndpointSweepPlan {
  EndpointOptions endpoint;
  std::vector<int64_t> lengths = {1, 7, 32, 96};         // target prompt length, words
  std::vector<int64_t> concurrency = {1, 2, 4, 8, 16};   // requests in flight with the target
  uint64_t seed = 1;
  int64_t max_tokens = 8;
  std::optional<EndpointLevel> level;                    // none: the best the server allows
};

VerifyResults run_endpoint_sweep(const EndpointSweepPlan& plan, const Progress& progress);

}  // namespace lockstep::harness

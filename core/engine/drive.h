// Drives one Engine the way a server's clients do: requests submitted from
// several threads, each after its own delay, so they arrive while others are
// prefilling or decoding and are batched together. The engine's property
// test, the harness's co-batched runs and load tests share this driver.
#pragma once

#include <cstdint>
#include <vector>

#include "core/engine/engine.h"

namespace lockstep {

struct TimedRequest {
  std::vector<int32_t> prompt;
  GenerateOptions options;
  int64_t delay_us = 0;   // the submitting thread sleeps this long before submitting
};

// Request i is submitted by thread i % threads, in order of i, after its
// delay. Returns the generations in request order; rethrows the first error
// (bad input at submit, or a failed step) once every request has finished.
std::vector<Generation> submit_concurrently(Engine& engine, const std::vector<TimedRequest>& requests,
                                            int64_t threads);

}  // namespace lockstep

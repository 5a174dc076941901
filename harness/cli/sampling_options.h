// The sampling flags of the commands that generate: --temperature, --seed,
// --top-k and --top-p into a SamplingOptions (checked by lockstep::validate).
#pragma once

#include <CLI/CLI.hpp>

#include "core/engine/generate.h"

namespace lockstep::cli {

inline void add_sampling_options(CLI::App* app, SamplingOptions* s) {
  app->add_option("--temperature", s->temperature, "Sampling temperature; 0 is greedy (> 0 needs --seed)")
      ->capture_default_str();
  app->add_option("--seed", s->seed, "Seed of the counter-based sampling RNG (required when sampling)");
  app->add_option("--top-k", s->top_k, "Sample among the k most likely tokens; 0 is off")->capture_default_str();
  app->add_option("--top-p", s->top_p, "Nucleus sampling mass in (0, 1]; 1 is off")->capture_default_str();
}

}  // namespace lockstep::cli

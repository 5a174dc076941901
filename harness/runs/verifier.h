// The determinism check behind `lockstep verify`, every run through the
// batching Engine. Every case runs once alone as the reference (run-1), then
// runs-1 more times in this process with all cases submitted together
// (run-2 ...; the last of them on a freshly re-loaded model), then in each
// co-batched round of the suite's batch plan (batch-B, join-a, join-b), then
// once alone in each of `processes` fresh worker processes (process-1 ...).
// Every run is compared with the reference, step by step, on the SHA-256 of
// the raw fp32 logits and on the token ids.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "harness/runs/fault_hook.h"
#include "harness/results/results.h"
#include "harness/suite.h"

namespace lockstep::harness {

struct VerifyPlan {
  Suite suite;
  std::string model_path;
  std::string model_sha256;     // model_sha256(model_path) if already known; empty: computed
  LoadOptions load;             // device and dtype of every load, workers' included
  int64_t runs = 3;
  int64_t processes = 2;
  // `lockstep reload`: every in-process run after the reference starts with
  // a fresh load of the model (verify reloads for the last run only).
  bool reload_every_run = false;
  // `lockstep stress`: after the reference run, `workers` runs of the cases
  // (worker w runs case w mod n) from `threads` threads at once, all through
  // the one loaded model. 0 workers: no stress phase.
  int64_t workers = 0;
  int64_t threads = 8;
  // argv that starts a worker for this same suite and model; the runner
  // appends "--worker <label>". Its stdout must be worker_output() JSON.
  std::vector<std::string> worker_command;
  // Co-batched rounds after the in-process runs (harness/runs/batch_plan.h);
  // none: the reference alone and the cases together only.
  std::optional<BatchPlan> batch_plan;
  int64_t plan_repeats = 1;     // the rounds again with fillers of the next seeds
  // Co-batched failures of this many cases (the first failing run of each)
  // are re-run solo and in their batch with activation digests to name the
  // first divergent layer and op (harness/runs/localise.h); 0: none.
  int64_t localise = 3;
  std::optional<Fault> fault;   // test-only, see fault_hook.h
};

using Progress = std::function<void(const std::string& line)>;

// Fills everything but `command`. environment_error / bad_input from loading
// the model propagate; a failing worker becomes a failed run, not an error.
VerifyResults run_verify(const VerifyPlan& plan, const Progress& progress);

// Worker side: runs every case once as run `label` and returns
// {"schema": "lockstep.worker/0", "label", "cases": [{"id", "record"}]}.
nlohmann::ordered_json worker_output(const Suite& suite, const std::string& model_path, const LoadOptions& load,
                                     const std::string& label,
                             const std::optional<Fault>& fault);

}  // namespace lockstep::harness

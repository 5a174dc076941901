// The runs of `lockstep verify` through the batching Engine, the path users
// serve: a case alone (the reference), all cases submitted together, and the
// co-batched rounds of a batch plan (harness/runs/batch_plan.h). Every co-batched
// record comes with where it ran (BatchPlace: batch size and row at each of
// its tokens, who shared its steps, who joined whom mid-decode), taken from
// the engine's step numbers, so a report shows that co-batching happened.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/engine/model_bundle.h"
#include "harness/runs/batch_plan.h"
#include "harness/results/results.h"
#include "harness/runs/run_record.h"
#include "harness/suite.h"

namespace lockstep::harness {

using BundlePtr = std::shared_ptr<const ModelBundle>;

// A suite case as a request: its prompt ids and greedy options.
struct CaseRequest {
  std::string id;
  std::vector<int32_t> prompt_ids;
  GenerateOptions options;
};
std::vector<CaseRequest> case_requests(const ModelBundle& bundle, const Suite& suite);

// What a run adds to every engine it starts: the cases' observer (the test
// build's fault hook) and a setting for the scheduler thread.
struct EngineHooks {
  StepObserver observer;
  std::function<void()> on_scheduler_start;
};

struct CaseRun {
  RunRecord record;
  BatchPlace batch;
};

// The case alone in a fresh engine.
CaseRun run_solo(const BundlePtr& bundle, const CaseRequest& request, const EngineHooks& hooks);
// Every case submitted at once to one fresh engine, in suite order.
std::vector<CaseRun> run_together(const BundlePtr& bundle, const std::vector<CaseRequest>& requests,
                                  const EngineHooks& hooks);
// Round `label` (one of plan.round_labels()) in a fresh engine: one record per case, in suite order.
std::vector<CaseRun> run_round(const BundlePtr& bundle, const BatchPlan& plan, const std::string& label,
                               const std::vector<CaseRequest>& requests, const EngineHooks& hooks);

// What the plan asked of one case that its co-batched runs do not show:
// "" when carried out, else e.g. "no token in a batch of 8; never joined a running batch".
std::string plan_gaps(const BatchPlan& plan, const std::vector<const BatchPlace*>& places);

}  // namespace lockstep::harness

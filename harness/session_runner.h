// Runs a session script on a model: every generate turn prefills the whole
// conversation so far, rendered by the model's chat template (tool calls and
// tool answers included), and decodes greedily (or sampled with the step's
// seed); tool answers come from the script's canned data.
#pragma once

#include <functional>
#include <string>

#include "core/engine/model_bundle.h"
#include "harness/fault_hook.h"
#include "harness/session_script.h"
#include "harness/session_trace.h"

namespace lockstep::harness {

struct SessionRunOptions {
  // "trace" or "replay": the fault hook (test-only) perturbs every generate
  // turn for perturb-logit:<run>, and turn N only for perturb-logit:<run>-turn-N.
  std::string run_label = "trace";
  std::optional<Fault> fault;
  // Called after each step, for progress lines.
  std::function<void(const TraceTurn& turn, size_t steps, double seconds)> progress;
};

// The turns of a run, one per step, in order. A step that cannot go on (a
// tool_result with a call that has no canned answer, or nothing to answer)
// is recorded with its error and the run stops there. bad_input when the
// model has no chat template, or its template cannot render tool messages
// and the script has tool steps.
std::vector<TraceTurn> run_session(const ModelBundle& bundle, const SessionScript& script,
                                   const SessionRunOptions& options);

}  // namespace lockstep::harness

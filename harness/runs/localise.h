// Where determinism broke, inside the model: when a co-batched run of a case
// differs from its solo reference, the case is run again solo and in the
// same batch, each with an activation probe (core/models/probe.h), and the
// first token position whose activations differ, and there the first layer
// and op, is named — the root cause (every earlier token's bits are equal).
#pragma once

#include <functional>

#include "core/models/probe.h"
#include "harness/results/results.h"
#include "harness/runs/run_record.h"

namespace lockstep::harness {

// Runs the case again (solo, or in its failing batch) with `probe` on it.
using ProbedRun = std::function<RunRecord(ActivationProbe* probe)>;

// `divergence`: of the failing run against `reference`; `layers`: the
// model's layer count (to name the final norm and logits).
ActivationDivergence localise(const RunRecord& reference, const Divergence& divergence, int64_t layers,
                              const ProbedRun& solo, const ProbedRun& batch);

}  // namespace lockstep::harness

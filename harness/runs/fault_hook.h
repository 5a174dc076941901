// TEST-ONLY fault injection, so tests can show that `verify` catches a run
// that differs, or a worker that crashes, without editing code. Set
// LOCKSTEP_TEST_FAULT to one of:
//   perturb-logit:<run label>  in that run ("run-2", "process-1"), for every
//                              case, step 0's largest logit moves up by one ULP
//                              (std::nextafter toward +inf) before it is hashed;
//                              `session trace|replay` are runs "trace" / "replay",
//                              and "replay-turn-N" perturbs model turn N only;
//   abort:<worker label>       that worker process ("process-1") aborts after
//                              writing a line to stderr.
// Only the test build lockstep_fault (CMake option LOCKSTEP_FAULT_INJECTION,
// kernels/fault/) reads the variable; the release lockstep refuses it (exit 2).
#pragma once

#include <optional>
#include <string>

#include "core/engine/generate.h"

namespace lockstep::harness {

inline constexpr const char* kFaultVariable = "LOCKSTEP_TEST_FAULT";

struct Fault {
  enum class Kind { perturb_logit, abort_worker };
  Kind kind = Kind::perturb_logit;
  std::string run_label;
};

// nullopt for "" ; bad_input for anything but the forms above.
std::optional<Fault> parse_fault(const std::string& value);
// lockstep_fault: the variable parsed. Any other build: nullopt, or
// bad_input if the variable is set.
std::optional<Fault> fault_from_environment();
std::string describe(const Fault& fault);   // "perturb-logit:run-2"

// The observer run `label` uses: perturbs step 0 if the fault names this run.
StepObserver fault_observer(const std::optional<Fault>& fault, const std::string& label);

// In a worker: aborts (SIGABRT) if the fault is abort:<label>.
void abort_if_requested(const std::optional<Fault>& fault, const std::string& label);

// The largest element (the first, on a tie) becomes std::nextafter(x, +inf).
void perturb_largest_logit(at::Tensor& logits);

}  // namespace lockstep::harness

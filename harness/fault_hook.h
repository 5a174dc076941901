// TEST-ONLY fault injection, so tests can show that `verify` catches a run
// that differs without editing code. LOCKSTEP_TEST_FAULT=perturb-logit:<run label>
// (e.g. "perturb-logit:run-2", "perturb-logit:process-1"): in that run, for
// every case, step 0's largest logit moves up by one ULP before it is hashed.
// Never set it outside tests.
#pragma once

#include <optional>
#include <string>

#include "core/engine/generate.h"

namespace lockstep::harness {

inline constexpr const char* kFaultVariable = "LOCKSTEP_TEST_FAULT";

// The run label named by $LOCKSTEP_TEST_FAULT; nullopt when unset or empty;
// bad_input for any other form.
std::optional<std::string> fault_run_label();
std::optional<std::string> parse_fault(const std::string& value);

// The largest element (the first, on a tie) becomes std::nextafter(x, +inf).
void perturb_largest_logit(at::Tensor& logits);

// Observer that perturbs step 0 and leaves every other step alone.
StepObserver perturb_step0_observer();

// Runs `first` then `second` (either may be empty).
StepObserver chain(StepObserver first, StepObserver second);

}  // namespace lockstep::harness

#include "harness/runs/fault_hook.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>

#include "core/error.h"

namespace lockstep::harness {
namespace {

constexpr const char* kPerturb = "perturb-logit:";
constexpr const char* kAbort = "abort:";

}  // namespace

std::optional<Fault> parse_fault(const std::string& value) {
  if (value.empty()) return std::nullopt;
  for (const auto& [prefix, kind] : {std::pair{kPerturb, Fault::Kind::perturb_logit},
                                     std::pair{kAbort, Fault::Kind::abort_worker}}) {
    const std::string p = prefix;
    if (value.rfind(p, 0) == 0 && value.size() > p.size()) return Fault{kind, value.substr(p.size())};
  }
  throw bad_input(std::string(kFaultVariable) + "='" + value +
                  "' is not understood (test-only; forms: perturb-logit:<run label>, e.g. "
                  "perturb-logit:run-2, and abort:<worker label>, e.g. abort:process-1)");
}

std::optional<Fault> fault_from_environment() {
  const char* value = std::getenv(kFaultVariable);
#ifdef LOCKSTEP_FAULT_INJECTION
  return parse_fault(value == nullptr ? "" : value);
#else
  // The release binary cannot be made to perturb a run (nor to write a
  // perturbed golden with --update-golden): only lockstep_fault reads it.
  if (value != nullptr && *value != '\0') {
    throw bad_input(std::string(kFaultVariable) + " is set, but this binary has no test fault hook: it is "
                    "compiled only into the test build lockstep_fault (CMake option LOCKSTEP_FAULT_INJECTION)");
  }
  return std::nullopt;
#endif
}

std::string describe(const Fault& fault) {
  return (fault.kind == Fault::Kind::perturb_logit ? kPerturb : kAbort) + fault.run_label;
}

void perturb_largest_logit(at::Tensor& logits) {
  TORCH_CHECK(logits.scalar_type() == at::kFloat && logits.is_contiguous() && logits.device().is_cpu(),
              "perturb_largest_logit expects contiguous fp32 CPU logits");
  float* data = logits.data_ptr<float>();
  const int64_t n = logits.numel();
  if (n == 0) return;
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (data[i] > data[best]) best = i;
  }
  data[best] = std::nextafter(data[best], std::numeric_limits<float>::infinity());
}

StepObserver fault_observer(const std::optional<Fault>& fault, const std::string& label) {
  if (!fault || fault->kind != Fault::Kind::perturb_logit || fault->run_label != label) return {};
  return [](int64_t step, at::Tensor& logits) {
    if (step == 0) perturb_largest_logit(logits);
  };
}

void abort_if_requested(const std::optional<Fault>& fault, const std::string& label) {
  if (!fault || fault->kind != Fault::Kind::abort_worker || fault->run_label != label) return;
  std::cerr << "lockstep worker " << label << ": aborting on purpose (" << kFaultVariable << "="
            << describe(*fault) << ")" << std::endl;
  std::abort();
}

}  // namespace lockstep::harness

#include "harness/fault_hook.h"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/error.h"

namespace lockstep::harness {

std::optional<std::string> parse_fault(const std::string& value) {
  if (value.empty()) return std::nullopt;
  const std::string prefix = "perturb-logit:";
  if (value.rfind(prefix, 0) != 0 || value.size() == prefix.size()) {
    throw bad_input(std::string(kFaultVariable) + "='" + value +
                    "' is not understood (test-only; the one form is perturb-logit:<run label>, "
                    "e.g. perturb-logit:run-2)");
  }
  return value.substr(prefix.size());
}

std::optional<std::string> fault_run_label() {
  const char* value = std::getenv(kFaultVariable);
  return parse_fault(value == nullptr ? "" : value);
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

StepObserver perturb_step0_observer() {
  return [](int64_t step, at::Tensor& logits) {
    if (step == 0) perturb_largest_logit(logits);
  };
}

StepObserver chain(StepObserver first, StepObserver second) {
  if (!first) return second;
  if (!second) return first;
  return [first = std::move(first), second = std::move(second)](int64_t step, at::Tensor& logits) {
    first(step, logits);
    second(step, logits);
  };
}

}  // namespace lockstep::harness

#include "kernels/quiet_overrides.h"

#include <c10/util/Exception.h>

#include <string>

namespace lockstep::kernels {
namespace {

class QuietOverrides : public c10::WarningHandler {
 public:
  void process(const c10::Warning& warning) override {
    if (warning.msg().find("Overriding a previously registered kernel") != std::string::npos) return;
    if (previous != nullptr) {
      previous->process(warning);
    } else {
      c10::WarningHandler::process(warning);
    }
  }
  c10::WarningHandler* previous = nullptr;
};

QuietOverrides& handler() {
  static QuietOverrides quiet;
  return quiet;
}

}  // namespace

void quiet_overrides_begin() {
  handler().previous = c10::WarningUtils::get_warning_handler();
  c10::WarningUtils::set_warning_handler(&handler());
}

void quiet_overrides_end() { c10::WarningUtils::set_warning_handler(handler().previous); }

}  // namespace lockstep::kernels

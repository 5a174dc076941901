#include "kernels/mode.h"

#include <atomic>
#include <stdexcept>

namespace lockstep::kernels {
namespace {
std::atomic<int> g_mode{static_cast<int>(Mode::off)};
}  // namespace

Mode mode() { return static_cast<Mode>(g_mode.load(std::memory_order_acquire)); }

void set_mode(Mode mode) { g_mode.store(static_cast<int>(mode), std::memory_order_release); }

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::off: return "off";
    case Mode::batch_invariant: return "batch_invariant";
    case Mode::portable: return "portable";
  }
  return "unknown";
}

Mode parse_mode(const std::string& name) {
  if (name == "off") return Mode::off;
  if (name == "batch_invariant" || name == "batch-invariant") return Mode::batch_invariant;
  if (name == "portable") return Mode::portable;
  throw std::invalid_argument("unknown mode '" + name + "' (expected off, batch_invariant or portable)");
}

}  // namespace lockstep::kernels

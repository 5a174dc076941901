#include "kernels/mode.h"

#include <atomic>
#include <stdexcept>

#include "kernels/enum_names.h"

namespace lockstep::kernels {
namespace {
std::atomic<int> g_mode{static_cast<int>(Mode::off)};

constexpr Named<Mode> kModes[] = {
    {Mode::off, "off"}, {Mode::batch_invariant, "batch_invariant"}, {Mode::portable, "portable"}};
}  // namespace

Mode mode() { return static_cast<Mode>(g_mode.load(std::memory_order_acquire)); }

void set_mode(Mode mode) { g_mode.store(static_cast<int>(mode), std::memory_order_release); }

const char* mode_name(Mode mode) { return name_of(kModes, mode); }

Mode parse_mode(const std::string& name) {
  if (const Mode* mode = value_of(kModes, name)) return *mode;
  if (name == "batch-invariant") return Mode::batch_invariant;
  throw std::invalid_argument("unknown mode '" + name + "' (expected off, batch_invariant or portable)");
}

}  // namespace lockstep::kernels

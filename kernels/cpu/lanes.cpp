// Run-time choice of the lanes kernels' ISA variant. The variants compute
// the same bits (lanes.h), so the choice only affects speed; tests force
// each supported one to prove that.
#include "kernels/cpu/lanes.h"

#include <atomic>

namespace lockstep::kernels::cpu::lanes {
namespace {

Isa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
  return Isa::baseline;
}

Isa best() {
  static const Isa isa = detect();
  return isa;
}

std::atomic<int> forced{-1};

}  // namespace

bool isa_supported(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(best()); }

Isa active_isa() {
  const int f = forced.load(std::memory_order_relaxed);
  return f < 0 ? best() : static_cast<Isa>(f);
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "baseline";
  }
}

bool force_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  forced.store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

void reset_isa() { forced.store(-1, std::memory_order_relaxed); }

}  // namespace lockstep::kernels::cpu::lanes

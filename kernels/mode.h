// The kernel mode: which implementation the aten ops registered by
// kernels/register.cpp run.
//
// The mode is per PROCESS (one atomic), not per thread, on purpose: an op
// dispatched on one thread may run pieces of its work, or further aten ops,
// on libtorch's intra-op pool, inter-op pool or autograd threads, and a
// thread-local flag would silently be "off" there. A process-wide switch,
// like torch.use_deterministic_algorithms, means every thread of the
// process computes with the same kernels. ModeGuard sets it for a scope
// and restores the previous value; guards on different threads must not
// overlap with different modes (the last one to be destroyed wins).
#pragma once

#include <string>

namespace lockstep::kernels {

enum class Mode : int {
  off = 0,               // stock libtorch kernels
  batch_invariant = 1,   // lockstep kernels: reduction order fixed by static shape
  portable = 2,          // fp32 kernels with one defined order and own math, the same bits on
                         // x86 CPUs and NVIDIA GPUs (kernels/portable/)
};

Mode mode();
void set_mode(Mode mode);
const char* mode_name(Mode mode);
// "off" | "batch_invariant" (also "batch-invariant") | "portable"; std::invalid_argument otherwise
// (kernels know no error type above them: the CLI maps it to a bad-input exit, cli::mode_option).
Mode parse_mode(const std::string& name);

class ModeGuard {
 public:
  explicit ModeGuard(Mode mode) : previous_(kernels::mode()) { set_mode(mode); }
  ~ModeGuard() { set_mode(previous_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  Mode previous_;
};

}  // namespace lockstep::kernels

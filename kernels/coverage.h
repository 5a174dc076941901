// What lockstep's kernels cover, asked by op name: `lockstep scan` (harness/scan.cpp) and the
// Python package (lockstep_kernels.check, through the lockstep::classify and lockstep::record_*
// ops of kernels/dropin.cpp) classify from this one list. Classes:
//   invariant   lockstep's kernel replaces this overload (kernels/registered.h lists exactly
//               what kernels/register.cpp registers: sum.dim_IntList is, the full sum is not);
//   composite   decomposes into other ops (those are classified themselves);
//   exact       computes each output element from its own inputs with one correctly rounded
//               operation, or only moves data: the batch cannot change its bits;
//   uncovered   anything else: a reduction or transcendental lockstep does not replace, whose
//               bits may depend on the batch or the thread split.
#pragma once

#include <ATen/record_function.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace lockstep::kernels {

// {coverage, note} for "aten::name" or "aten::name.overload" (a name without "aten::" is taken
// as aten's; another namespace is "composite").
std::pair<std::string, std::string> classify_op(const std::string& name);

// Counts the aten ops (by overload, "aten::sum.dim_IntList") that run on any thread between
// construction and stop(). One recorder at a time per process.
class OpRecorder {
 public:
  OpRecorder();
  ~OpRecorder();
  OpRecorder(const OpRecorder&) = delete;
  OpRecorder& operator=(const OpRecorder&) = delete;
  // Removes the callback (idempotent) and returns the counts.
  std::map<std::string, int64_t> stop();

 private:
  at::CallbackHandle handle_ = 0;
  bool running_ = false;
};

}  // namespace lockstep::kernels

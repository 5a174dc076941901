// kernels/registered.h lists exactly what kernels/register.cpp registers: the
// dispatcher's own record of each aten overload's kernels (dumpState names the
// file that registered each one) must show lockstep's kernels on exactly the
// listed overloads, under the CPU key (and the CUDA key where built with CUDA).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>

#include "kernels/registered.h"

namespace lockstep::kernels {
namespace {

// The overloads whose `key` kernel was registered from kernels/register.cpp.
std::set<std::string> overloads_registered_by_lockstep(const std::string& key) {
  std::set<std::string> found;
  for (const c10::OperatorName& name : c10::Dispatcher::singleton().getAllOpNames()) {
    if (name.name.rfind("aten::", 0) != 0) continue;
    const auto op = c10::Dispatcher::singleton().findOp(name);
    if (!op) continue;
    std::istringstream state(op->dumpState());
    for (std::string line; std::getline(state, line);) {
      if (line.rfind(key + ": ", 0) == 0 && line.find("kernels/register.cpp") != std::string::npos) {
        const std::string base = name.name.substr(6);
        found.insert(name.overload_name.empty() ? base : base + "." + name.overload_name);
      }
    }
  }
  return found;
}

TEST(Registered, TheDispatcherHoldsExactlyTheListedOverloads) {
  const std::set<std::string> listed(registered_overloads().begin(), registered_overloads().end());
  EXPECT_EQ(listed.size(), registered_overloads().size()) << "a listed overload is repeated";
  EXPECT_EQ(overloads_registered_by_lockstep("CPU"), listed);
#ifdef LOCKSTEP_WITH_CUDA
  EXPECT_EQ(overloads_registered_by_lockstep("CUDA"), listed);
#endif
  // The full-tensor sum is not replaced: `lockstep scan` must not call it covered.
  EXPECT_EQ(listed.count("sum"), 0u);
  EXPECT_EQ(listed.count("sum.dim_IntList"), 1u);
}

}  // namespace
}  // namespace lockstep::kernels

#include "harness/results/kineto_trace.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <set>
#include <utility>

namespace lockstep::harness {
namespace {

namespace prof = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

std::set<ActivityType> activities(bool cuda) {
  std::set<ActivityType> a{ActivityType::CPU};
  if (cuda) a.insert(ActivityType::CUDA);
  return a;
}

}  // namespace

KinetoTrace::KinetoTrace(std::string path, bool cuda) : path_(std::move(path)) {
  const ProfilerConfig config(ProfilerState::KINETO);
  prof::prepareProfiler(config, activities(cuda));
  prof::enableProfiler(config, activities(cuda));
  active_ = true;
}

KinetoTrace::~KinetoTrace() {
  if (active_) {
    try {
      prof::disableProfiler();
    } catch (...) {   // a destructor must not throw; the trace is lost anyway
    }
  }
}

void KinetoTrace::save() {
  if (!active_) return;
  active_ = false;
  prof::disableProfiler()->save(path_);
}

}  // namespace lockstep::harness

// A torch profiler (Kineto) trace of a stretch of work: CPU operators of the
// calling thread and, on a GPU, every kernel and copy of the process (CUPTI
// records the device side globally, so the engine's worker thread is in it).
// Written as a Chrome trace (chrome://tracing, Perfetto); ci/trace_summary.py
// tabulates it.
#pragma once

#include <string>

namespace lockstep::harness {

class KinetoTrace {
 public:
  // Starts profiling; `cuda` adds the device activities.
  KinetoTrace(std::string path, bool cuda);
  ~KinetoTrace();   // stops without saving when save() was not called
  KinetoTrace(const KinetoTrace&) = delete;
  KinetoTrace& operator=(const KinetoTrace&) = delete;
  // Stops profiling and writes the trace to the path.
  void save();

 private:
  std::string path_;
  bool active_ = false;
};

}  // namespace lockstep::harness

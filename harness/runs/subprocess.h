// Runs a child process to completion and captures its stdout and stderr:
// how `verify` runs its fresh-process workers.
#pragma once

#include <string>
#include <vector>

namespace lockstep::harness {

struct ProcessOutcome {
  int exit_code = -1;   // -1 when killed by a signal
  int signal = 0;       // the terminating signal, 0 if it exited
  std::string out;
  std::string err;      // at most the last kMaxStderr bytes
  double duration_s = 0.0;

  bool succeeded() const { return signal == 0 && exit_code == 0; }
  std::string status() const;   // "exited with code 3", "killed by signal 11 (Segmentation fault)"
};

inline constexpr size_t kMaxStderr = 64 * 1024;

// argv[0] is the executable path. The child inherits the environment; its
// stdin is /dev/null. environment_error if it cannot be started.
ProcessOutcome run_process(const std::vector<std::string>& argv);

// The last `max_lines` lines of `text` (for error messages).
std::string tail_lines(const std::string& text, size_t max_lines);

}  // namespace lockstep::harness

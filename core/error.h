// One error type for everything a user can cause (bad file, bad flag, missing
// environment). The CLI maps Error::kind() to an exit code in one place
// (harness/cli/exit_codes.h); internal invariants use assert/TORCH_CHECK.
#pragma once

#include <stdexcept>
#include <string>

namespace lockstep {

enum class ErrorKind {
  bad_input,    // malformed or unsupported file, flag or option (exit 2)
  environment,  // missing model, unwritable directory, no GPU (exit 3)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

inline Error bad_input(const std::string& message) {
  return Error(ErrorKind::bad_input, message);
}
inline Error environment_error(const std::string& message) {
  return Error(ErrorKind::environment, message);
}

}  // namespace lockstep

// Every exit code of the lockstep CLI, and the one mapping from errors to
// them. Subcommands return kOk / kDiverged; errors travel as exceptions to
// main(), which maps them here.
#pragma once

#include "core/error.h"

namespace lockstep::cli {

inline constexpr int kOk = 0;            // every run matched (or the command did its job)
inline constexpr int kDiverged = 1;      // a run differed from the reference, or a worker failed
inline constexpr int kBadInput = 2;      // bad flag, bad suite, bad model file
inline constexpr int kEnvironment = 3;   // model missing, unwritable output, no GPU
inline constexpr int kInternal = 4;      // a bug in lockstep (unexpected exception)

inline int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::bad_input: return kBadInput;
    case ErrorKind::environment: return kEnvironment;
  }
  return kInternal;
}

// CLI11 reports --help and --version as "errors" with code 0; every real
// parse error is a usage error.
inline int exit_code_for_parse(int cli11_exit_code) { return cli11_exit_code == 0 ? kOk : kBadInput; }

}  // namespace lockstep::cli

// For tests that run the project's Python (LOCKSTEP_PYTHON) on a library
// such as transformers and skip where it is not installed.
#pragma once

#include <cstdlib>
#include <string>

namespace lockstep::testing_support {

// Empty when `python` imports `module`; else the reason to skip.
inline std::string missing_module(const std::string& python, const std::string& module) {
  if (std::system(("'" + python + "' -c 'import " + module + "' >/dev/null 2>&1").c_str()) == 0) return "";
  return "no " + module + " in " + python;
}

}  // namespace lockstep::testing_support

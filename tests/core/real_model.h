// Fixture for tests on the embedded SmolLM2 model: loaded once per suite,
// skipped where the model is not installed (e.g. a GPU machine without it).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>

#include "core/engine/model_bundle.h"

namespace lockstep::testing_support {

class RealModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // POSIX access(): std::filesystem is unsafe in binaries linked with
    // libtorch, which exports its own copy of those symbols.
    if (bundle_ == nullptr && ::access(LOCKSTEP_DEFAULT_MODEL, R_OK) == 0) {
      bundle_ = ModelBundle::load(LOCKSTEP_DEFAULT_MODEL);
    }
  }
  void SetUp() override {
    if (!bundle_) GTEST_SKIP() << "default model not installed (run ci/setup.sh)";
  }
  static inline std::shared_ptr<const ModelBundle> bundle_;
};

}  // namespace lockstep::testing_support

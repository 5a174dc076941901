// Fixture for tests on the embedded SmolLM2 model: loaded once per suite,
// skipped where the model is not installed (e.g. a GPU machine without it).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "core/engine/generate.h"
#include "core/engine/model_bundle.h"
#include "kernels/mode.h"

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

// A request as the engine tests write them.
struct Request {
  std::vector<int32_t> prompt;
  GenerateOptions options;
};

// The request alone, through generate's loop (one Decoding, one KV cache):
// the bits the engine must reproduce for it in any batch.
inline Generation run_alone(const ModelBundle& bundle, const Request& r) {
  Decoding d(r.prompt, bundle.eos_ids(), r.options);
  KvCache cache = bundle.model.new_cache(d.capacity());
  while (!d.done()) d.accept(bundle.model.forward_last({{d.next_input(), &cache}})[0]);
  return d.take();
}

// Every request alone, in `mode`.
inline std::vector<Generation> each_alone(const ModelBundle& bundle, const std::vector<Request>& requests,
                                          kernels::Mode mode) {
  const kernels::ModeGuard guard(mode);
  std::vector<Generation> out;
  for (const Request& r : requests) out.push_back(run_alone(bundle, r));
  return out;
}

}  // namespace lockstep::testing_support

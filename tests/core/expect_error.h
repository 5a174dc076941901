// How the core tests check a refusal: lockstep::Error of the right kind
// whose message names what is wrong.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace lockstep::testing {

// Runs `fn`, expecting lockstep::Error of `kind` whose message contains each of `parts`.
inline void expect_error(const std::function<void()>& fn, ErrorKind kind, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected lockstep::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const std::string& p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "message '" << e.what() << "' lacks '" << p << "'";
    }
  }
}

inline void expect_bad_input(const std::function<void()>& fn, const std::string& part) {
  expect_error(fn, ErrorKind::bad_input, {part});
}

}  // namespace lockstep::testing

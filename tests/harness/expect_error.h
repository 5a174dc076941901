// How harness tests expect a lockstep::Error: `call` must throw one of this
// kind, whose message holds `part` (any message when `part` is empty).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace lockstep::harness::testing {

template <typename Call>
void expect_error(Call&& call, ErrorKind kind, const std::string& part = "") {
  try {
    call();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind);
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace lockstep::harness::testing

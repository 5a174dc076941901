// JUnit XML for CI systems: <testsuites><testsuite name="verify"> with one
// <testcase classname="verify.<case id>" name="<run label>"> per compared
// run, and a <failure> naming the first divergence.
#pragma once

#include <string>
#include <string_view>

#include "harness/results/results.h"

namespace lockstep::harness {

// Escapes text for XML 1.0 content and attribute values: & < > " ' become
// entities; tab, newline and carriage return become character references
// (so attribute values keep them); other characters that XML 1.0 forbids
// (C0 controls, U+FFFE, U+FFFF, surrogates) and invalid UTF-8 become U+FFFD.
std::string xml_escape(std::string_view text);

std::string junit_xml(const VerifyResults& results);

// Atomic write; environment_error if the file cannot be written.
void write_junit(const std::string& path, const VerifyResults& results);

}  // namespace lockstep::harness

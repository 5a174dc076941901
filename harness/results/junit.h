// The one JUnit XML writer: `verify`, `sweep` and the other checks write it
// beside results.json, and `lockstep report` writes it from results.json /
// compare.json files. One <testsuite> per results file (named by its suite,
// " (mode off)" added for a run without lockstep's kernels), one <testcase
// classname="<suite>.<case id>" name="<run label>"> per compared run and
// name="golden" per case checked against a golden proof; a divergence is a
// <failure> naming the case, the run, the batch it decoded in and the first
// divergent step, a run that produced no record (a crashed worker) an
// <error>, an --update-golden run a <skipped> check. A compare.json adds a
// "compare" suite whose check is batch_invariant giving exactly one output.
// Valid against reports/schema/junit.xsd.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/results/results.h"

namespace lockstep::harness {

// Escapes text for XML 1.0 content and attribute values: & < > " ' become
// entities; tab, newline and carriage return become character references
// (so attribute values keep them); other characters that XML 1.0 forbids
// (C0 controls, U+FFFE, U+FFFF, surrogates) and invalid UTF-8 become U+FFFD.
std::string xml_escape(std::string_view text);

struct JunitInputs {
  std::vector<VerifyResults> results;
  std::vector<nlohmann::ordered_json> compares;   // lockstep.compare/0 documents
};

// Reads results.json files (a compare.json among them is told apart by its
// schema) and compare.json files; bad_input names the file that is neither.
JunitInputs read_junit_inputs(const std::vector<std::string>& results_files,
                              const std::vector<std::string>& compare_files);

std::string junit_xml(const JunitInputs& inputs);
std::string junit_xml(const VerifyResults& results);

// Atomic write; environment_error if the file cannot be written.
void write_junit(const std::string& path, const JunitInputs& inputs);
void write_junit(const std::string& path, const VerifyResults& results);

}  // namespace lockstep::harness

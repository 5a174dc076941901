// Synthetic documents shared by the harness tests: a small VerifyResults (two
// cases, the second with one diverging run and one crashed worker) for the
// results and JUnit tests, and the identity of a synthetic proof or trace.
#pragma once

#include "core/util/sha256.h"
#include "harness/results/results.h"

namespace lockstep::harness::testing {

inline VerifyResults sample_results() {
  VerifyResults r;
  r.command = {"lockstep", "verify", "--prompt", "a"};
  r.started_at = "2025-01-02T03:04:05Z";
  r.duration_s = 12.5;
  r.environment = {"0.1.0", "2.11.0", false, "Test CPU", 2, "Linux 6.1 x86_64", "gcc 12"};
  r.model = {"/m/model.gguf", "Test Model", std::string(64, 'a')};
  r.suite_name = "sample";
  r.suite_path = "/s/sample.json";
  r.runs = 2;
  r.processes = 1;

  CaseResult ok;
  ok.id = "capital";
  ok.prompt = "What is the capital of France?";
  ok.max_new_tokens = 8;
  ok.text = "Paris";
  ok.reference = {{1, 2}, {3, 4}, "ids", {"s0", "s1"}, "max_tokens", 0.5};
  ok.runs.push_back({"run-2", RunKind::reload, true, 0.4, std::nullopt, ""});
  ok.runs.push_back({"process-1", RunKind::process, true, 0.6, std::nullopt, ""});

  CaseResult bad;
  bad.id = "odd <id> & \"quotes\"";
  bad.prompt = "tab\there\x01 bell";
  bad.chat = false;
  bad.max_new_tokens = 4;
  bad.text = "broken \xe6\x97";   // ends inside a character
  bad.reference = {{1}, {9}, "ids2", {"t0"}, "eos", 0.25};
  Divergence d;
  d.step = 0;
  d.reason = "logits";
  d.expected_sha256 = "t0";
  d.actual_sha256 = "u0";
  d.expected_token = 9;
  d.actual_token = 9;
  d.expected_text = " <b>";
  d.actual_text = " <b>";
  bad.runs.push_back({"run-2", RunKind::reload, false, 0.3, d, ""});
  bad.runs.push_back({"process-1", RunKind::process, false, 0.0, std::nullopt,
                      "worker process-1 killed by signal 6 (Aborted); stderr tail:\nboom"});
  r.cases = {ok, bad};
  return r;
}

// A proof's or session trace's header: written at a fixed time by model "m" in batch_invariant mode.
template <typename Document>
void stamp_identity(Document& d) {
  d.created_at = "2026-01-01T00:00:00Z";
  d.model_name = "m";
  d.model_sha256 = sha256_hex("model");
  d.environment.mode = "batch_invariant";
}

}  // namespace lockstep::harness::testing

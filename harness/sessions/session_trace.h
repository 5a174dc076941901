// Session traces ("lockstep.trace/1", documented in harness/PROOF.md): what
// one run of a session script produced, kept so that a replay (here, later,
// elsewhere) can be compared with it bit for bit. A trace embeds the script,
// names the model (SHA-256 of the file) and the runtime, and records every
// step: for a generate turn the rendered prompt's ids, the output ids, the
// SHA-256 of every step's raw fp32 logits, the stop reason and each step's
// top candidates; for tool steps the calls and the canned answers. Its
// "digest" is the SHA-256 of the canonical JSON of everything else, exactly
// as in a proof, so a changed byte is caught before any comparison.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/env.h"
#include "harness/runs/run_record.h"
#include "harness/sessions/session_script.h"

namespace lockstep::harness {

inline constexpr const char* kTraceSchema = "lockstep.trace/1";

struct ToolAnswer {
  ToolCall call;
  std::string result;
};

struct TraceTurn {
  int64_t step = 0;         // index in the script's steps
  std::string type;         // the step's type
  std::string text;         // user: the message; generate: the answer; tool_call: the rendered call
  RunRecord record;         // generate only (duration_s is not kept)
  std::vector<ToolCall> tool_calls;         // generate: the calls parsed from the answer; tool_call: the call
  std::vector<std::string> tool_call_errors;   // generate: malformed <tool_call> blocks
  std::vector<ToolAnswer> answers;          // tool_result
  std::string error;        // the session stopped at this step, for this reason
};

struct Trace {
  std::string created_at;
  std::string model_name;
  std::string model_sha256;
  Environment environment;   // environment.mode is the kernels mode
  nlohmann::ordered_json script;   // the script document as run
  std::vector<TraceTurn> turns;
};

nlohmann::ordered_json trace_to_json(const Trace& trace);
// Validates the schema, the digest (proof_digest), every field and the
// embedded script; bad_input naming `origin` and what is wrong.
Trace trace_from_json(const nlohmann::ordered_json& document, const std::string& origin);
Trace read_trace(const std::string& path);
// Atomic; an existing file is replaced only with `overwrite` (else bad_input naming --force).
void write_trace(const std::string& path, const Trace& trace, bool overwrite);

// Where two traces of the same script part: the first turn (in script
// order) that differs, what differed, and for a generate turn the first
// divergent step and token (run_record.h's Divergence, with both sides' top
// candidates and the ULP distance).
struct TurnDivergence {
  int64_t turn = 0;          // index in the turns (== the script step)
  std::string type;
  std::string what;          // for people
  std::optional<Divergence> divergence;   // generate turns whose records differ
};

// bad_input if the traces are of different models or different scripts.
std::optional<TurnDivergence> first_turn_divergence(const Trace& expected, const Trace& actual);
std::string describe(const TurnDivergence& divergence);
void to_json(nlohmann::ordered_json& out, const TurnDivergence& divergence);

}  // namespace lockstep::harness

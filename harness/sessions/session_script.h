// Session scripts ("lockstep.session/0", documented in suites/README.md): a
// multi-turn chat with tool-call steps, replayed exactly. A script has a
// system prompt, a list of steps and the canned answers of its tools:
//   user         a user message;
//   generate     an assistant turn by the model (max_new_tokens, stop
//                strings, optional temperature + seed); tool calls in its
//                text (<tool_call>{"name": .., "arguments": {..}}</tool_call>)
//                are pending until the next tool_result step;
//   tool_call    a scripted assistant turn that calls a tool (name + JSON
//                arguments), written the way Qwen-style ChatML models do;
//   tool_result  the answers to every pending call, looked up in `tools` by
//                name and arguments, so a replay sees exactly the same data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lockstep::harness {

inline constexpr const char* kSessionSchema = "lockstep.session/0";

struct ToolCall {
  std::string name;
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();
};

struct SessionStep {
  std::string type;   // "user", "generate", "tool_call", "tool_result"
  std::string text;   // user
  int64_t max_new_tokens = 0;        // generate
  std::vector<std::string> stop;     // generate: stop strings
  double temperature = 0.0;          // generate: 0 is greedy
  std::optional<uint64_t> seed;      // generate: required when temperature > 0
  ToolCall call;                     // tool_call
};

struct CannedTool {
  ToolCall call;
  std::string result;   // the tool message's content
};

struct SessionScript {
  std::string name;
  std::string system;   // "" : no system message (the template's default, if any, applies)
  std::vector<SessionStep> steps;
  std::vector<CannedTool> tools;
  nlohmann::ordered_json document;   // the script as read (a trace embeds it)
};

// Validates the schema and every field; bad_input naming `origin`, the JSON
// path and what is wrong (unknown step type or field, a tool_call without a
// canned answer, a tool_result with nothing to answer, no generate step...).
SessionScript session_from_json(const nlohmann::ordered_json& document, const std::string& origin);
// bad_input for a missing, unreadable or non-JSON file, or an invalid script.
SessionScript read_session(const std::string& path);

// The canned answer to `call` (same name, equal arguments), or nullptr.
const CannedTool* find_canned(const SessionScript& script, const ToolCall& call);

// JSON as Python's json.dumps(value, ensure_ascii=False) writes it (", " and
// ": " separators), which is what transformers' `tojson` filter gives.
std::string python_json(const nlohmann::ordered_json& value);

// "<tool_call>\n{\"name\": \"NAME\", \"arguments\": ARGS}\n</tool_call>", as
// the Qwen2.5/Qwen3 templates render an assistant's tool_calls.
std::string tool_call_text(const ToolCall& call);

// Every <tool_call>...</tool_call> block in a generated text, in order. A
// block that is not a JSON object with a string "name" (and an object
// "arguments", if present) is reported in `errors` instead.
struct ParsedToolCalls {
  std::vector<ToolCall> calls;
  std::vector<std::string> errors;
};
ParsedToolCalls parse_tool_calls(const std::string& text);

}  // namespace lockstep::harness

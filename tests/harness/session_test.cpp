// harness/sessions/session_script.h and session_trace.h without the model: script
// validation, the tool-call text, parsing calls out of generated text, the
// trace round trip and digest, and the first divergent turn.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/util/sha256.h"
#include "harness/proofs/proof.h"
#include "harness/sessions/session_script.h"
#include "harness/sessions/session_trace.h"
#include "results_fixture.h"

namespace lockstep::harness {
namespace {

using json = nlohmann::ordered_json;

json script_doc() {
  return json::parse(R"({
    "schema": "lockstep.session/0", "name": "s", "system": "sys",
    "tools": [{"name": "get_weather", "arguments": {"city": "Paris"}, "result": {"sky": "rain", "c": 14}},
              {"name": "get_time", "result": "noon"}],
    "steps": [{"type": "user", "text": "hi"},
              {"type": "generate", "max_new_tokens": 4, "stop": ["\n"]},
              {"type": "tool_call", "name": "get_weather", "arguments": {"city": "Paris"}},
              {"type": "tool_result"},
              {"type": "generate", "max_new_tokens": 3, "temperature": 0.7, "seed": 5}]})");
}

// The bad_input message of parsing `doc`; "" if it parses.
std::string error_of(const json& doc) {
  try {
    session_from_json(doc, "s.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input);
    return e.what();
  }
  return "";
}

TEST(SessionScript, ParsesEveryStepType) {
  const SessionScript s = session_from_json(script_doc(), "s.json");
  ASSERT_EQ(s.steps.size(), 5u);
  EXPECT_EQ(s.system, "sys");
  EXPECT_EQ(s.steps[1].stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(s.steps[2].call.name, "get_weather");
  EXPECT_EQ(s.steps[4].seed, std::optional<uint64_t>(5));
  ASSERT_EQ(s.tools.size(), 2u);
  EXPECT_EQ(s.tools[0].result, R"({"sky": "rain", "c": 14})");   // non-string results as Python's json.dumps
  EXPECT_EQ(s.tools[1].result, "noon");
  // Arguments match regardless of key order; other values do not.
  EXPECT_NE(find_canned(s, ToolCall{"get_weather", json{{"city", "Paris"}}}), nullptr);
  EXPECT_EQ(find_canned(s, ToolCall{"get_weather", json{{"city", "Lyon"}}}), nullptr);
  EXPECT_NE(find_canned(s, ToolCall{"get_time", json::object()}), nullptr);
}

TEST(SessionScript, RefusesBadScriptsNamingTheField) {
  auto with = [](auto edit) {
    json d = script_doc();
    edit(d);
    return error_of(d);
  };
  EXPECT_EQ(with([](json&) {}), "");
  EXPECT_NE(with([](json& d) { d["schema"] = "lockstep.session/9"; }).find("not supported"), std::string::npos);
  EXPECT_NE(with([](json& d) { d["steps"][1]["type"] = "think"; }).find("steps[1].type: unknown step type 'think'"),
            std::string::npos);
  EXPECT_NE(with([](json& d) { d["steps"][1]["max_new_tokens"] = 0; }).find("steps[1].max_new_tokens"), std::string::npos);
  EXPECT_NE(with([](json& d) { d["steps"][1].erase("max_new_tokens"); }).find("missing field 'max_new_tokens'"),
            std::string::npos);
  EXPECT_NE(with([](json& d) { d["steps"][4].erase("seed"); }).find("needs a seed"), std::string::npos);
  EXPECT_NE(with([](json& d) { d["steps"][0]["txt"] = "x"; }).find("steps[0].txt: unknown key"), std::string::npos);
  EXPECT_NE(with([](json& d) { d["steps"][2]["arguments"]["city"] = "Rome"; }).find("no canned answer"),
            std::string::npos);
  EXPECT_NE(with([](json& d) { d["steps"][2]["arguments"] = "Paris"; }).find("expected a JSON object"), std::string::npos);
  EXPECT_NE(with([](json& d) { d["steps"][0] = {{"type", "tool_result"}}; }).find("steps[0]"), std::string::npos);
  EXPECT_NE(with([](json& d) { d["steps"][3] = {{"type", "user"}, {"text", "x"}}; d["steps"][4] = {{"type", "tool_result"}}; })
                .find("must follow a tool_call or a generate"),
            std::string::npos);
  EXPECT_NE(with([](json& d) { d["steps"] = json::array({{{"type", "user"}, {"text", "x"}}}); }).find("no generate step"),
            std::string::npos);
  EXPECT_NE(with([](json& d) { d["tools"].push_back(d["tools"][0]); }).find("a second answer"), std::string::npos);
  EXPECT_NE(with([](json& d) { d.erase("steps"); }).find("missing field 'steps'"), std::string::npos);
  EXPECT_NE(error_of(json::array()).find("expected a JSON object"), std::string::npos);
}

TEST(SessionScript, ToolCallTextIsQwensForm) {
  const ToolCall call{"f", json::parse(R"({"b": [1, "é\n\"q\""], "a": {"x": null, "y": true}})")};
  EXPECT_EQ(tool_call_text(call),
            "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"b\": [1, \"é\\n\\\"q\\\"\"], \"a\": {\"x\": null, \"y\": "
            "true}}}\n</tool_call>");
}

TEST(SessionScript, ParsesToolCallsOutOfText) {
  const std::string text = "Let me check. <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
                           "</tool_call> and <tool_call>{\"name\": 3}</tool_call><tool_call>not json</tool_call>"
                           "<tool_call>{\"name\": \"t\"}</tool_call><tool_call>{\"name\": \"open";
  const ParsedToolCalls p = parse_tool_calls(text);
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, json({{"city", "Paris"}}));
  EXPECT_EQ(p.calls[1].name, "t");
  EXPECT_EQ(p.calls[1].arguments, json::object());
  ASSERT_EQ(p.errors.size(), 3u);
  EXPECT_NE(p.errors[1].find("not JSON"), std::string::npos);
  EXPECT_NE(p.errors[2].find("without </tool_call>"), std::string::npos);
  // The text a scripted call renders parses back to the same call.
  const ToolCall call{"get_weather", json{{"city", "Paris"}}};
  const ParsedToolCalls back = parse_tool_calls(tool_call_text(call));
  ASSERT_EQ(back.calls.size(), 1u);
  EXPECT_EQ(back.calls[0].arguments, call.arguments);
  EXPECT_TRUE(parse_tool_calls("no calls").calls.empty());
}

TraceTurn generate_turn(int64_t step, std::vector<int32_t> out) {
  TraceTurn t;
  t.step = step;
  t.type = "generate";
  t.text = "answer";
  t.record.prompt_ids = {1, 2, 3};
  t.record.output_ids = out;
  t.record.ids_sha256 = ids_sha256(out);
  for (size_t s = 0; s < out.size(); ++s) {
    t.record.step_logits_sha256.push_back(sha256_hex("step" + std::to_string(step) + "." + std::to_string(s)));
    t.record.step_top.push_back({{out[s], 12.5f + static_cast<float>(s) * 0.1f}, {7, -3.25e-3f}});
  }
  t.record.stop_reason = "max_tokens";
  return t;
}

Trace make_trace() {
  Trace t;
  testing::stamp_identity(t);
  t.script = script_doc();
  TraceTurn user;
  user.type = "user";
  user.text = "hi";
  TraceTurn call;
  call.step = 2;
  call.type = "tool_call";
  call.tool_calls = {ToolCall{"get_weather", json{{"city", "Paris"}}}};
  call.text = tool_call_text(call.tool_calls[0]);
  TraceTurn result;
  result.step = 3;
  result.type = "tool_result";
  result.answers = {ToolAnswer{call.tool_calls[0], R"({"sky": "rain", "c": 14})"}};
  t.turns = {user, generate_turn(1, {5, 6, 7, 8}), call, result, generate_turn(4, {9, 10})};
  return t;
}

TEST(SessionTrace, RoundTripsBitForBitAndDigestCatchesChanges) {
  const json doc = trace_to_json(make_trace());
  EXPECT_EQ(doc["schema"], kTraceSchema);
  const Trace back = trace_from_json(doc, "t.json");
  EXPECT_EQ(trace_to_json(back), doc);
  EXPECT_EQ(back.turns[1].record.step_top[0][1].second, -3.25e-3f);   // logits survive as exact text
  EXPECT_FALSE(first_turn_divergence(make_trace(), back));
  json changed = doc;
  changed["turns"][1]["step_logits_sha256"][2] = sha256_hex("other");
  try {
    trace_from_json(changed, "t.json");
    FAIL() << "a changed digest must fail the file digest";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("changed after it was written"), std::string::npos) << e.what();
  }
}

TEST(SessionTrace, RefusesInconsistentTraces) {
  auto error_with = [](auto edit) {
    json d = trace_to_json(make_trace());
    edit(d);
    d["digest"]["value"] = proof_digest(d);   // resealed: the content checks must catch it
    try {
      trace_from_json(d, "t.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_with([](json& d) { d["schema"] = "lockstep.proof/1"; }).find("not supported"), std::string::npos);
  EXPECT_NE(error_with([](json& d) { d["turns"][1]["output_ids"][0] = 99; }).find("does not match output_ids"),
            std::string::npos);
  EXPECT_NE(error_with([](json& d) { d["turns"].erase(4); }).find("4 turns for a script of 5 steps"), std::string::npos);
  EXPECT_NE(error_with([](json& d) { d["turns"][2]["type"] = "user"; }).find("does not match step 2"), std::string::npos);
  EXPECT_NE(error_with([](json& d) { d["script"]["steps"][0]["type"] = "nope"; }).find("script"), std::string::npos);
  EXPECT_NE(error_with([](json& d) { d["turns"][1]["step_top"][0][0][1] = "x1"; }).find("not a number"), std::string::npos);
  // A run that stopped on an error may end early.
  EXPECT_EQ(error_with([](json& d) {
              d["turns"].erase(4);
              d["turns"][3]["error"] = "no canned answer";
            }),
            "");
}

TEST(SessionTrace, FirstDivergenceNamesTurnStepAndUlp) {
  const Trace expected = make_trace();
  Trace actual = make_trace();
  actual.turns[4].record.step_logits_sha256[1] = sha256_hex("moved");
  actual.turns[4].record.step_top[1][0].second = std::nextafter(actual.turns[4].record.step_top[1][0].second, 100.0f);
  actual.turns[1].tool_calls = {ToolCall{"x", json::object()}};   // an earlier turn differs first
  std::optional<TurnDivergence> d = first_turn_divergence(expected, actual);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->turn, 1);
  EXPECT_EQ(d->what, "different tool calls");
  actual.turns[1].tool_calls = expected.turns[1].tool_calls;
  d = first_turn_divergence(expected, actual);
  ASSERT_TRUE(d && d->divergence);
  EXPECT_EQ(d->turn, 4);
  EXPECT_EQ(d->divergence->step, 1);
  EXPECT_EQ(d->divergence->reason, "logits");
  EXPECT_EQ(d->divergence->max_ulp, std::optional<int64_t>(1));
  EXPECT_EQ(describe(*d).rfind("turn 4 (generate): step 1: ", 0), 0u) << describe(*d);

  Trace shorter = make_trace();
  shorter.turns.pop_back();
  d = first_turn_divergence(expected, shorter);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->turn, 4);
  Trace answers = make_trace();
  answers.turns[3].answers[0].result = "sunny";
  ASSERT_TRUE(first_turn_divergence(expected, answers));
  EXPECT_EQ(first_turn_divergence(expected, answers)->what, "different tool answers");

  Trace other_model = make_trace();
  other_model.model_sha256 = sha256_hex("other");
  EXPECT_THROW(first_turn_divergence(expected, other_model), Error);
  Trace other_script = make_trace();
  other_script.script["steps"][0]["text"] = "hello";
  EXPECT_THROW(first_turn_divergence(expected, other_script), Error);
}

}  // namespace
}  // namespace lockstep::harness

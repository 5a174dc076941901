#include "harness/sessions/session_trace.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "core/error.h"
#include "harness/atomic_file.h"
#include "harness/json_reader.h"
#include "harness/proofs/proof.h"

namespace lockstep::harness {

using json = nlohmann::ordered_json;

namespace {

// A logit as text: the shortest decimal that reads back to the same float
// (a string, so the canonical JSON and its digest are the same in any language).
std::string logit_text(float f) { return fmt::format("{}", f); }

json call_json(const ToolCall& c) { return json{{"name", c.name}, {"arguments", c.arguments}}; }

json turn_json(const TraceTurn& t) {
  json out{{"step", t.step}, {"type", t.type}, {"text", t.text}};
  if (t.type == "generate") {
    out["input_ids"] = t.record.prompt_ids;
    out["output_ids"] = t.record.output_ids;
    out["output_ids_sha256"] = t.record.ids_sha256;
    out["step_logits_sha256"] = t.record.step_logits_sha256;
    out["stop_reason"] = t.record.stop_reason;
    json top = json::array();
    for (const auto& step : t.record.step_top) {
      json row = json::array();
      for (const auto& [id, logit] : step) row.push_back(json::array({id, logit_text(logit)}));
      top.push_back(std::move(row));
    }
    out["step_top"] = std::move(top);
    out["tool_call_errors"] = t.tool_call_errors;
  }
  if (t.type == "generate" || t.type == "tool_call") {
    json calls = json::array();
    for (const ToolCall& c : t.tool_calls) calls.push_back(call_json(c));
    out["tool_calls"] = std::move(calls);
  }
  if (t.type == "tool_result") {
    json answers = json::array();
    for (const ToolAnswer& a : t.answers) answers.push_back({{"name", a.call.name}, {"arguments", a.call.arguments}, {"result", a.result}});
    out["answers"] = std::move(answers);
  }
  if (!t.error.empty()) out["error"] = t.error;
  return out;
}

json body_of(const Trace& t) {
  json turns = json::array();
  for (const TraceTurn& turn : t.turns) turns.push_back(turn_json(turn));
  return json{{"schema", kTraceSchema},
              {"created_at", t.created_at},
              {"model", {{"name", t.model_name}, {"file_sha256", t.model_sha256}}},
              {"runtime", {{"device", t.environment.device}, {"dtype", t.environment.dtype}, {"environment", t.environment}}},
              {"script", t.script},
              {"turns", turns}};
}

ToolCall tool_call(const JsonReader& r, const json& in, const std::string& where) {
  ToolCall c{r.get<std::string>(in, where, "name"), r.at(in, where, "arguments")};
  if (!c.arguments.is_object()) r.fail(where + ".arguments", "expected an object");
  return c;
}

TraceTurn parse_turn(const JsonReader& r, const json& c, const std::string& where) {
  TraceTurn t;
  t.step = r.get<int64_t>(c, where, "step");
  t.type = r.get<std::string>(c, where, "type");
  t.text = r.get<std::string>(c, where, "text");
  if (t.type == "generate") {
    t.record.prompt_ids = r.get<std::vector<int32_t>>(c, where, "input_ids");
    t.record.output_ids = r.get<std::vector<int32_t>>(c, where, "output_ids");
    t.record.ids_sha256 = r.get<std::string>(c, where, "output_ids_sha256");
    r.check_sha(t.record.ids_sha256, where + ".output_ids_sha256");
    if (ids_sha256(t.record.output_ids) != t.record.ids_sha256) r.fail(where + ".output_ids_sha256", "does not match output_ids");
    t.record.step_logits_sha256 = r.get<std::vector<std::string>>(c, where, "step_logits_sha256");
    if (t.record.step_logits_sha256.size() != t.record.output_ids.size()) {
      r.fail(where, std::to_string(t.record.step_logits_sha256.size()) + " logits digests for " +
                        std::to_string(t.record.output_ids.size()) + " output ids");
    }
    for (size_t s = 0; s < t.record.step_logits_sha256.size(); ++s) {
      r.check_sha(t.record.step_logits_sha256[s], where + ".step_logits_sha256[" + std::to_string(s) + "]");
    }
    t.record.stop_reason = r.get<std::string>(c, where, "stop_reason");
    const json& top = r.at(c, where, "step_top");
    if (!top.is_array() || top.size() != t.record.output_ids.size()) r.fail(where + ".step_top", "expected one list per output id");
    for (const json& step : top) {
      auto& row = t.record.step_top.emplace_back();
      if (!step.is_array()) r.fail(where + ".step_top", "expected lists of [id, \"logit\"]");
      for (const json& pair : step) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() || !pair[1].is_string()) {
          r.fail(where + ".step_top", "expected [id, \"logit\"] pairs");
        }
        const std::string text = pair[1].get<std::string>();
        char* end = nullptr;
        errno = 0;
        const float logit = std::strtof(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size()) r.fail(where + ".step_top", "'" + text + "' is not a number");
        row.emplace_back(pair[0].get<int32_t>(), logit);
      }
    }
    t.tool_call_errors = r.get<std::vector<std::string>>(c, where, "tool_call_errors");
  }
  if (t.type == "generate" || t.type == "tool_call") {
    const json& calls = r.at(c, where, "tool_calls");
    if (!calls.is_array()) r.fail(where + ".tool_calls", "expected a list");
    for (size_t i = 0; i < calls.size(); ++i) t.tool_calls.push_back(tool_call(r, calls[i], where + ".tool_calls[" + std::to_string(i) + "]"));
  }
  if (t.type == "tool_result") {
    const json& answers = r.at(c, where, "answers");
    if (!answers.is_array()) r.fail(where + ".answers", "expected a list");
    for (size_t i = 0; i < answers.size(); ++i) {
      const std::string w = where + ".answers[" + std::to_string(i) + "]";
      t.answers.push_back(ToolAnswer{tool_call(r, answers[i], w), r.get<std::string>(answers[i], w, "result")});
    }
  }
  if (c.contains("error")) t.error = r.get<std::string>(c, where, "error");
  return t;
}

}  // namespace

json trace_to_json(const Trace& trace) {
  json doc = body_of(trace);
  seal(doc);
  return doc;
}

Trace trace_from_json(const json& doc, const std::string& origin) {
  check_sealed(doc, origin, kTraceSchema, "lockstep session trace");
  const JsonReader r(origin);
  Trace t;
  const json& runtime = read_provenance(r, doc, t.created_at, t.model_name, t.model_sha256, t.environment);
  if (r.get<std::string>(runtime, "runtime", "device") != t.environment.device ||
      r.get<std::string>(runtime, "runtime", "dtype") != t.environment.dtype) {
    r.fail("runtime", "device/dtype disagree with runtime.environment");
  }
  t.script = r.at(doc, "document", "script");
  const SessionScript script = session_from_json(t.script, origin + ": script");
  const json& turns = r.at(doc, "document", "turns");
  if (!turns.is_array()) r.fail("turns", "expected an array");
  for (size_t i = 0; i < turns.size(); ++i) {
    const std::string where = "turns[" + std::to_string(i) + "]";
    TraceTurn turn = parse_turn(r, turns[i], where);
    if (turn.step != static_cast<int64_t>(i) || i >= script.steps.size() || turn.type != script.steps[i].type) {
      r.fail(where, "does not match step " + std::to_string(i) + " of the embedded script");
    }
    t.turns.push_back(std::move(turn));
  }
  const bool stopped = !t.turns.empty() && !t.turns.back().error.empty();
  if (!stopped && t.turns.size() != script.steps.size()) {
    r.fail("turns", std::to_string(t.turns.size()) + " turns for a script of " + std::to_string(script.steps.size()) +
                        " steps (and no turn says why it stopped)");
  }
  return t;
}

Trace read_trace(const std::string& path) { return trace_from_json(read_proof_json(path), path); }

void write_trace(const std::string& path, const Trace& trace, bool overwrite) {
  struct stat info {};
  if (!overwrite && ::stat(path.c_str(), &info) == 0) throw bad_input(path + " exists; it is replaced only with --force");
  write_file_atomically(path, trace_to_json(trace).dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

namespace {
bool same_calls(const std::vector<ToolCall>& a, const std::vector<ToolCall>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || nlohmann::json::parse(a[i].arguments.dump()) != nlohmann::json::parse(b[i].arguments.dump())) {
      return false;
    }
  }
  return true;
}
std::string quoted(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }
}  // namespace

std::optional<TurnDivergence> first_turn_divergence(const Trace& expected, const Trace& actual) {
  if (expected.model_sha256 != actual.model_sha256) {
    throw bad_input("the traces are of different models: " + expected.model_name + " (sha256 " +
                    expected.model_sha256.substr(0, 16) + "…) vs " + actual.model_name + " (sha256 " +
                    actual.model_sha256.substr(0, 16) + "…)");
  }
  if (nlohmann::json::parse(expected.script.dump()) != nlohmann::json::parse(actual.script.dump())) {
    throw bad_input("the traces are of different session scripts ('" + expected.script.value("name", "?") + "' vs '" +
                    actual.script.value("name", "?") + "'): a comparison would be meaningless");
  }
  const size_t n = std::max(expected.turns.size(), actual.turns.size());
  for (size_t i = 0; i < n; ++i) {
    TurnDivergence d;
    d.turn = static_cast<int64_t>(i);
    if (i >= expected.turns.size() || i >= actual.turns.size()) {
      const TraceTurn& present = i < expected.turns.size() ? expected.turns[i] : actual.turns[i];
      d.type = present.type;
      d.what = std::string("only the ") + (i < expected.turns.size() ? "expected" : "actual") + " run reached it";
      return d;
    }
    const TraceTurn& e = expected.turns[i];
    const TraceTurn& a = actual.turns[i];
    d.type = e.type;
    if (e.type == "generate") {
      if ((d.divergence = first_divergence(e.record, a.record))) {
        d.what = describe(*d.divergence);
        return d;
      }
      if (e.record.stop_reason != a.record.stop_reason) {
        d.what = "stop reason " + e.record.stop_reason + " expected, " + a.record.stop_reason + " actual";
        return d;
      }
    }
    if (e.text != a.text) {
      d.what = "text " + quoted(e.text.substr(0, 200)) + " expected, " + quoted(a.text.substr(0, 200)) + " actual";
      return d;
    }
    if (!same_calls(e.tool_calls, a.tool_calls) || e.tool_call_errors != a.tool_call_errors) {
      d.what = "different tool calls";
      return d;
    }
    bool answers_same = e.answers.size() == a.answers.size();
    for (size_t k = 0; answers_same && k < e.answers.size(); ++k) {
      answers_same = e.answers[k].result == a.answers[k].result && same_calls({e.answers[k].call}, {a.answers[k].call});
    }
    if (!answers_same) {
      d.what = "different tool answers";
      return d;
    }
    if (e.error != a.error) {
      d.what = "error " + quoted(e.error) + " expected, " + quoted(a.error) + " actual";
      return d;
    }
  }
  return std::nullopt;
}

std::string describe(const TurnDivergence& d) {
  return fmt::format("turn {} ({}): {}", d.turn, d.type, d.what);
}

void to_json(json& out, const TurnDivergence& d) {
  out = json{{"turn", d.turn}, {"type", d.type}, {"what", d.what}};
  if (d.divergence) {
    json div;
    to_json(div, *d.divergence);
    out["divergence"] = std::move(div);
  }
}

}  // namespace lockstep::harness

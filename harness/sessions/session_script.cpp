#include "harness/sessions/session_script.h"

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "harness/json_reader.h"
#include "kernels/enum_names.h"

namespace lockstep::harness {

using json = nlohmann::ordered_json;

namespace {

// An optional string member ("" when absent).
std::string optional_string(const JsonReader& r, const json& in, const std::string& where, const char* key) {
  return in.contains(key) ? r.get<std::string>(in, where, key) : std::string();
}

// A tool call's arguments: an object, {} when absent.
json arguments_of(const JsonReader& r, const json& in, const std::string& where) {
  auto it = in.find("arguments");
  if (it == in.end()) return json::object();
  if (!it->is_object()) r.fail(where + ".arguments", "expected a JSON object (the tool's arguments)");
  return *it;
}

// Equality of JSON values regardless of key order.
bool same_json(const json& a, const json& b) { return nlohmann::json::parse(a.dump()) == nlohmann::json::parse(b.dump()); }

SessionStep parse_step(const JsonReader& r, const json& s, const std::string& where) {
  if (!s.is_object()) r.fail(where, "expected an object with a \"type\"");
  SessionStep step;
  step.type = r.get<std::string>(s, where, "type");
  if (step.type == "user") {
    r.only_keys(s, where, {"type", "text"});
    step.text = r.get<std::string>(s, where, "text");
  } else if (step.type == "generate") {
    r.only_keys(s, where, {"type", "max_new_tokens", "stop", "temperature", "seed"});
    auto n = s.find("max_new_tokens");
    if (n == s.end()) r.fail(where, "missing field 'max_new_tokens'");
    if (!n->is_number_integer() || n->get<int64_t>() < 1 || n->get<int64_t>() > 4096) {
      r.fail(where + ".max_new_tokens", "expected an integer from 1 to 4096");
    }
    step.max_new_tokens = n->get<int64_t>();
    if (auto stop = s.find("stop"); stop != s.end()) {
      if (!stop->is_array()) r.fail(where + ".stop", "expected a list of strings");
      for (const json& x : *stop) {
        if (!x.is_string() || x.get<std::string>().empty()) r.fail(where + ".stop", "expected non-empty strings");
        step.stop.push_back(x.get<std::string>());
      }
    }
    if (auto t = s.find("temperature"); t != s.end()) {
      if (!t->is_number() || !std::isfinite(t->get<double>()) || t->get<double>() < 0) {
        r.fail(where + ".temperature", "expected a finite number >= 0");
      }
      step.temperature = t->get<double>();
    }
    if (auto seed = s.find("seed"); seed != s.end()) {
      if (!seed->is_number_unsigned()) r.fail(where + ".seed", "expected an integer >= 0");
      step.seed = seed->get<uint64_t>();
    }
    if (step.temperature > 0 && !step.seed) r.fail(where, "temperature > 0 needs a seed (sampling must be reproducible)");
  } else if (step.type == "tool_call") {
    r.only_keys(s, where, {"type", "name", "arguments"});
    step.call.name = r.get<std::string>(s, where, "name");
    if (step.call.name.empty()) r.fail(where + ".name", "must not be empty");
    step.call.arguments = arguments_of(r, s, where);
  } else if (step.type == "tool_result") {
    r.only_keys(s, where, {"type"});
  } else {
    r.fail(where + ".type", "unknown step type '" + step.type + "' (expected user, generate, tool_call or tool_result)");
  }
  return step;
}

constexpr kernels::Named<char> kPythonEscapes[] = {{'"', "\\\""}, {'\\', "\\\\"}, {'\n', "\\n"}, {'\r', "\\r"},
                                                   {'\t', "\\t"}, {'\b', "\\b"},  {'\f', "\\f"}};

void append_python_string(std::string& out, const std::string& s) {
  out += '"';
  for (const unsigned char c : s) {
    if (const char* escaped = kernels::name_of(kPythonEscapes, static_cast<char>(c), nullptr)) {
      out += escaped;
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void append_python_json(std::string& out, const json& v) {
  if (v.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& item : v.items()) {
      if (!first) out += ", ";
      first = false;
      append_python_string(out, item.key());
      out += ": ";
      append_python_json(out, item.value());
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += ", ";
      append_python_json(out, v[i]);
    }
    out += ']';
  } else if (v.is_string()) {
    append_python_string(out, v.get<std::string>());
  } else if (v.is_boolean()) {
    out += v.get<bool>() ? "true" : "false";
  } else if (v.is_null()) {
    out += "null";
  } else {
    out += v.dump();   // numbers; integers are written alike (floats may differ from Python's repr)
  }
}

}  // namespace

std::string python_json(const json& value) {
  std::string out;
  append_python_json(out, value);
  return out;
}

std::string tool_call_text(const ToolCall& call) {
  std::string out = "<tool_call>\n{\"name\": ";
  append_python_string(out, call.name);
  out += ", \"arguments\": " + python_json(call.arguments) + "}\n</tool_call>";
  return out;
}

ParsedToolCalls parse_tool_calls(const std::string& text) {
  static const std::string open = "<tool_call>", close = "</tool_call>";
  ParsedToolCalls out;
  size_t pos = 0;
  while ((pos = text.find(open, pos)) != std::string::npos) {
    const size_t begin = pos + open.size();
    const size_t end = text.find(close, begin);
    if (end == std::string::npos) {
      out.errors.push_back("a <tool_call> block without </tool_call>");
      break;
    }
    const std::string body = text.substr(begin, end - begin);
    pos = end + close.size();
    json parsed;
    try {
      parsed = json::parse(body);
    } catch (const json::parse_error&) {
      out.errors.push_back("a <tool_call> block that is not JSON: " + body.substr(0, 120));
      continue;
    }
    if (!parsed.is_object() || !parsed.contains("name") || !parsed["name"].is_string() ||
        (parsed.contains("arguments") && !parsed["arguments"].is_object())) {
      out.errors.push_back("a <tool_call> block without a string \"name\" and object \"arguments\": " +
                           body.substr(0, 120));
      continue;
    }
    out.calls.push_back(ToolCall{parsed["name"].get<std::string>(),
                                 parsed.contains("arguments") ? parsed["arguments"] : json::object()});
  }
  return out;
}

const CannedTool* find_canned(const SessionScript& script, const ToolCall& call) {
  for (const CannedTool& t : script.tools) {
    if (t.call.name == call.name && same_json(t.call.arguments, call.arguments)) return &t;
  }
  return nullptr;
}

SessionScript session_from_json(const json& doc, const std::string& origin) {
  const JsonReader r(origin);
  if (!doc.is_object()) r.fail("document", "expected a JSON object");
  auto schema = doc.find("schema");
  if (schema == doc.end() || !schema->is_string()) r.fail("schema", std::string("missing; expected \"") + kSessionSchema + "\"");
  if (*schema != kSessionSchema) {
    r.fail("schema", "'" + schema->get<std::string>() + "' is not supported (expected " + kSessionSchema + ")");
  }
  r.only_keys(doc, "document", {"schema", "name", "description", "system", "tools", "steps"});
  SessionScript script;
  script.document = doc;
  script.name = r.get<std::string>(doc, "document", "name");
  if (script.name.empty()) r.fail("name", "must not be empty");
  script.system = optional_string(r, doc, "document", "system");
  if (auto d = doc.find("description"); d != doc.end() && !d->is_string()) r.fail("description", "expected a string");
  if (auto tools = doc.find("tools"); tools != doc.end()) {
    if (!tools->is_array()) r.fail("tools", "expected a list of {name, arguments, result}");
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      const std::string where = "tools[" + std::to_string(i) + "]";
      r.only_keys(t, where, {"name", "arguments", "result"});
      CannedTool canned;
      canned.call.name = r.get<std::string>(t, where, "name");
      canned.call.arguments = arguments_of(r, t, where);
      auto result = t.find("result");
      if (result == t.end()) r.fail(where, "missing field 'result'");
      canned.result = result->is_string() ? result->get<std::string>() : python_json(*result);
      if (find_canned(script, canned.call)) {
        r.fail(where, "a second answer for " + canned.call.name + " " + python_json(canned.call.arguments));
      }
      script.tools.push_back(std::move(canned));
    }
  }
  auto steps = doc.find("steps");
  if (steps == doc.end()) r.fail("document", "missing field 'steps'");
  if (!steps->is_array() || steps->empty()) r.fail("steps", "expected a non-empty list");
  bool any_generate = false;
  for (size_t i = 0; i < steps->size(); ++i) {
    const std::string where = "steps[" + std::to_string(i) + "]";
    SessionStep step = parse_step(r, (*steps)[i], where);
    if (step.type == "generate") any_generate = true;
    if (step.type == "tool_call" && !find_canned(script, step.call)) {
      r.fail(where, "no canned answer in \"tools\" for " + step.call.name + " " + python_json(step.call.arguments));
    }
    if (step.type == "tool_result") {
      const std::string before = i == 0 ? "" : script.steps.back().type;
      if (before != "tool_call" && before != "generate") {
        r.fail(where, "a tool_result must follow a tool_call or a generate step (whose tool calls it answers)");
      }
    }
    if (i == 0 && step.type != "user") r.fail(where, "the first step must be a user message");
    script.steps.push_back(std::move(step));
  }
  if (!any_generate) r.fail("steps", "no generate step: a session needs at least one turn by the model");
  return script;
}

SessionScript read_session(const std::string& path) {
  return session_from_json(read_json_file(path, "session script", 16), path);
}

}  // namespace lockstep::harness

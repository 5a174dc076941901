#include "harness/serve/api_request.h"

#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lockstep::serve {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& param, const std::string& message) { throw ApiError(400, message, param); }

const char* type_name(const json& v) { return v.type_name(); }

json parse_object(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) fail("", "the request body is not valid JSON");
  if (!doc.is_object()) fail("", fmt::format("the request body must be a JSON object, not {}", type_name(doc)));
  return doc;
}

// The fields a request may hold; anything else is refused.
void check_fields(const json& doc, const std::set<std::string>& known) {
  for (const auto& [key, value] : doc.items()) {
    if (!known.count(key)) {
      fail(key, fmt::format("unknown field '{}': lockstep does not implement it (a request must run as written)", key));
    }
  }
}

const json* field(const json& doc, const char* name) {
  auto it = doc.find(name);
  return it == doc.end() || it->is_null() ? nullptr : &*it;
}

bool get_bool(const json& doc, const char* name, bool fallback) {
  const json* v = field(doc, name);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(name, fmt::format("'{}' must be a boolean, not {}", name, type_name(*v)));
  return v->get<bool>();
}

int64_t get_int(const json& doc, const char* name, int64_t lo, int64_t hi, int64_t fallback) {
  const json* v = field(doc, name);
  if (!v) return fallback;
  if (!v->is_number_integer()) fail(name, fmt::format("'{}' must be an integer, not {}", name, type_name(*v)));
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
    fail(name, fmt::format("'{}' must be from {} to {}", name, lo, hi));
  }
  const auto x = v->get<int64_t>();
  if (x < lo || x > hi) fail(name, fmt::format("'{}' must be from {} to {}, not {}", name, lo, hi, x));
  return x;
}

double get_number(const json& doc, const char* name, double lo, double hi, double fallback) {
  const json* v = field(doc, name);
  if (!v) return fallback;
  if (!v->is_number()) fail(name, fmt::format("'{}' must be a number, not {}", name, type_name(*v)));
  const auto x = v->get<double>();
  if (!(x >= lo && x <= hi)) fail(name, fmt::format("'{}' must be from {} to {}", name, lo, hi));
  return x;
}

std::string get_string(const json& doc, const char* name) {
  const json* v = field(doc, name);
  if (!v) return {};
  if (!v->is_string()) fail(name, fmt::format("'{}' must be a string, not {}", name, type_name(*v)));
  return v->get<std::string>();
}

// Options lockstep accepts only at their neutral value.
void require_neutral(const json& doc) {
  for (const char* name : {"presence_penalty", "frequency_penalty"}) {
    if (get_number(doc, name, -2.0, 2.0, 0.0) != 0.0) {
      fail(name, fmt::format("'{}' is not supported (only 0)", name));
    }
  }
  if (const json* v = field(doc, "repetition_penalty"); v && !(v->is_number() && v->get<double>() == 1.0)) {
    fail("repetition_penalty", "'repetition_penalty' is not supported (only 1)");
  }
  if (const json* v = field(doc, "logit_bias"); v && !(v->is_object() && v->empty())) {
    fail("logit_bias", "'logit_bias' is not supported");
  }
  get_string(doc, "user");   // accepted and ignored, but must be a string
}

// The sampling options and limits both endpoints share.
void parse_common(const json& doc, const ApiLimits& limits, ApiRequest& r) {
  r.model = get_string(doc, "model");
  r.temperature = get_number(doc, "temperature", 0.0, 2.0, 0.0);
  r.top_p = get_number(doc, "top_p", 0.0, 1.0, 1.0);
  if (r.top_p == 0.0) fail("top_p", "'top_p' must be in (0, 1]");
  r.top_k = get_int(doc, "top_k", -1, std::numeric_limits<int32_t>::max(), 0);
  if (r.top_k == -1) r.top_k = 0;   // vLLM's spelling of "off"
  if (const json* v = field(doc, "seed")) {
    if (!v->is_number_integer() || (v->is_number_integer() && !v->is_number_unsigned() && v->get<int64_t>() < 0)) {
      fail("seed", "'seed' must be a non-negative integer");
    }
    r.seed = v->get<uint64_t>();
  }
  if (r.temperature > 0 && !r.seed) {
    fail("seed",
         "sampling (temperature > 0) needs an explicit 'seed': lockstep never draws unseeded random numbers, "
         "since the output could not be reproduced. Add a seed, or leave out temperature for greedy decoding.");
  }
  if (r.temperature == 0 && (r.top_k > 0 || r.top_p < 1)) {
    fail(r.top_k > 0 ? "top_k" : "top_p", "top_k / top_p only apply when sampling: set a temperature > 0 and a seed");
  }
  if (const json* v = field(doc, "stop")) {
    if (v->is_string()) {
      r.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      for (const json& s : *v) {
        if (!s.is_string()) fail("stop", "'stop' must be a string or an array of strings");
        r.stop.push_back(s.get<std::string>());
      }
    } else {
      fail("stop", "'stop' must be a string or an array of strings");
    }
    if (static_cast<int64_t>(r.stop.size()) > limits.max_stops) {
      fail("stop", fmt::format("at most {} stop strings", limits.max_stops));
    }
    for (const std::string& s : r.stop) {
      if (s.empty()) fail("stop", "stop strings must not be empty");
    }
  }
  r.n = get_int(doc, "n", 1, limits.max_n, 1);
  if (r.n > 1 && r.temperature == 0) {
    fail("n", "n > 1 with greedy decoding would return n identical choices: sample (temperature and seed) or ask for 1");
  }
  r.stream = get_bool(doc, "stream", false);
  if (const json* v = field(doc, "stream_options")) {
    if (!v->is_object()) fail("stream_options", "'stream_options' must be an object");
    if (!r.stream) fail("stream_options", "'stream_options' is only allowed with \"stream\": true");
    check_fields(*v, {"include_usage"});
    r.include_usage = get_bool(*v, "include_usage", false);
  }
  r.ignore_eos = get_bool(doc, "ignore_eos", false);
  require_neutral(doc);
}

std::optional<int64_t> max_tokens(const json& doc, const char* name, const ApiLimits& limits) {
  if (!field(doc, name)) return std::nullopt;
  return get_int(doc, name, 1, limits.max_tokens, 0);
}

const std::set<std::string> kCommon = {"model", "temperature", "top_p", "top_k", "seed", "stop", "n", "stream",
                                       "stream_options", "ignore_eos", "presence_penalty", "frequency_penalty",
                                       "repetition_penalty", "logit_bias", "user", "max_tokens"};

std::set<std::string> with(std::set<std::string> s, std::initializer_list<const char*> more) {
  for (const char* m : more) s.insert(m);
  return s;
}

std::string message_content(const json& m, size_t i) {
  const std::string where = fmt::format("messages[{}].content", i);
  const json* c = field(m, "content");
  if (!c) return {};
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) fail(where, fmt::format("'{}' must be a string or an array of text parts", where));
  std::string text;
  for (const json& part : *c) {
    if (!part.is_object() || get_string(part, "type") != "text" || !field(part, "text") || !part["text"].is_string()) {
      fail(where, fmt::format("'{}' may only hold {{\"type\": \"text\", \"text\": ...}} parts", where));
    }
    check_fields(part, {"type", "text"});
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

ApiRequest parse_completion_request(std::string_view body, const ApiLimits& limits) {
  const json doc = parse_object(body);
  check_fields(doc, with(kCommon, {"prompt", "logprobs", "echo", "best_of", "suffix"}));
  ApiRequest r;
  r.kind = ApiRequest::Kind::completion;
  parse_common(doc, limits, r);
  r.max_tokens = max_tokens(doc, "max_tokens", limits);
  if (get_bool(doc, "echo", false)) fail("echo", "'echo' is not supported");
  if (get_int(doc, "best_of", 1, 1, 1) != 1) fail("best_of", "'best_of' is not supported");
  if (!get_string(doc, "suffix").empty()) fail("suffix", "'suffix' is not supported");
  r.logprobs = get_int(doc, "logprobs", 0, 20, -1);
  const json* p = field(doc, "prompt");
  if (!p) fail("prompt", "'prompt' is required");
  if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];
  if (p->is_string()) {
    r.prompt_text = p->get<std::string>();
    if (r.prompt_text->empty()) fail("prompt", "'prompt' is empty");
    if (r.prompt_text->size() > limits.max_prompt_bytes) {
      fail("prompt", fmt::format("'prompt' is longer than {} bytes", limits.max_prompt_bytes));
    }
  } else if (p->is_array()) {
    if (p->empty()) fail("prompt", "'prompt' is empty");
    for (const json& id : *p) {
      if (id.is_array() || id.is_string()) {
        fail("prompt", "several prompts in one request are not supported: send one request per prompt");
      }
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        fail("prompt", "'prompt' must be a string or an array of token ids (non-negative integers)");
      }
      r.prompt_ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
    if (r.prompt_ids.size() * 4 > limits.max_prompt_bytes) fail("prompt", "'prompt' has too many token ids");
  } else {
    fail("prompt", fmt::format("'prompt' must be a string or an array of token ids, not {}", type_name(*p)));
  }
  return r;
}

ApiRequest parse_chat_request(std::string_view body, const ApiLimits& limits) {
  const json doc = parse_object(body);
  check_fields(doc, with(kCommon, {"messages", "logprobs", "top_logprobs", "max_completion_tokens"}));
  ApiRequest r;
  r.kind = ApiRequest::Kind::chat;
  parse_common(doc, limits, r);
  r.max_tokens = max_tokens(doc, "max_completion_tokens", limits);
  if (!r.max_tokens) r.max_tokens = max_tokens(doc, "max_tokens", limits);
  const bool logprobs = get_bool(doc, "logprobs", false);
  const int64_t top = get_int(doc, "top_logprobs", 0, 20, -1);
  if (top >= 0 && !logprobs) fail("top_logprobs", "'top_logprobs' needs \"logprobs\": true");
  r.logprobs = logprobs ? std::max<int64_t>(top, 0) : -1;
  const json* m = field(doc, "messages");
  if (!m) fail("messages", "'messages' is required");
  if (!m->is_array() || m->empty()) fail("messages", "'messages' must be a non-empty array");
  size_t bytes = 0;
  for (size_t i = 0; i < m->size(); ++i) {
    const json& msg = (*m)[i];
    if (!msg.is_object()) fail(fmt::format("messages[{}]", i), "each message must be an object");
    check_fields(msg, {"role", "content", "name"});
    ChatMessage cm;
    cm.role = get_string(msg, "role");
    if (cm.role.empty()) fail(fmt::format("messages[{}].role", i), "each message needs a 'role'");
    cm.content = message_content(msg, i);
    bytes += cm.content.size();
    r.messages.push_back(std::move(cm));
  }
  if (bytes > limits.max_prompt_bytes) fail("messages", fmt::format("the messages are longer than {} bytes", limits.max_prompt_bytes));
  return r;
}

}  // namespace lockstep::serve

#include "harness/endpoint/client.h"

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lockstep::harness {
namespace {

using json = nlohmann::ordered_json;

std::string base_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() >= 3 && url.compare(url.size() - 3, 3, "/v1") == 0) url.resize(url.size() - 3);
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    throw bad_input("--endpoint " + url + ": give a URL starting with http:// or https://");
  }
  return url;
}

std::string quote(const std::string& body) {
  return body.size() > 300 ? body.substr(0, 300) + "…" : body;
}

// The server answered, but not with what was asked (bad_input): an HTTP
// error status other than 401/403/429, or a body that is not a JSON object.
// identify() notes these for /v1/models and goes on.
class Unanswered : public Error {
 public:
  Unanswered(std::string what_failed, const std::string& message)
      : Error(ErrorKind::bad_input, message), what_failed_(std::move(what_failed)) {}
  const std::string& what_failed() const { return what_failed_; }   // "HTTP 500", "not a JSON object"

 private:
  std::string what_failed_;
};

// One request with retries on 429 / 503; the parsed JSON body of a 200.
json request(const EndpointOptions& o, const std::string& method, const std::string& path, const json& body,
             httplib::Headers* headers_out = nullptr) {
  httplib::Client client(o.url);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(o.timeout_s, 0);
  client.set_write_timeout(o.timeout_s, 0);
  httplib::Headers headers;
  if (!o.api_key.empty()) headers.emplace("Authorization", "Bearer " + o.api_key);
  for (int attempt = 0;; ++attempt) {
    httplib::Result res = method == "GET" ? client.Get(path, headers)
                                          : client.Post(path, headers, body.dump(), "application/json");
    if (!res) {
      throw environment_error(fmt::format("{}{}: no answer ({}); is the server running, and is --endpoint-timeout "
                                          "({} s) long enough?", o.url, path, httplib::to_string(res.error()),
                                          o.timeout_s));
    }
    if (headers_out) *headers_out = res->headers;   // also when the status is an error: they name the server
    if ((res->status == 429 || res->status == 503) && attempt < o.retries) {
      const int wait = std::max(1, std::min(30, std::atoi(res->get_header_value("Retry-After").c_str())));
      std::this_thread::sleep_for(std::chrono::seconds(wait));
      continue;
    }
    if (res->status == 401 || res->status == 403) {
      throw bad_input(fmt::format("{}{}: HTTP {}: the server wants an API key (--api-key-env NAME): {}", o.url, path,
                                  res->status, quote(res->body)));
    }
    if (res->status == 429) {
      throw environment_error(fmt::format("{}{}: rate-limited (HTTP 429) {} times in a row: {}", o.url, path,
                                          o.retries + 1, quote(res->body)));
    }
    if (res->status != 200) {
      throw Unanswered(fmt::format("HTTP {}", res->status),
                       fmt::format("{}{}: HTTP {}: {}", o.url, path, res->status, quote(res->body)));
    }
    json doc = json::parse(res->body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      throw Unanswered("not a JSON object",
                       fmt::format("{}{}: the answer is not a JSON object: {}", o.url, path, quote(res->body)));
    }
    return doc;
  }
}

// The token text of a chat logprobs entry: its bytes when the server gives them (a token may end
// inside a UTF-8 character), else its text.
std::string token_text(const json& entry) {
  if (entry.contains("bytes") && entry["bytes"].is_array()) {
    std::string raw;
    for (const json& b : entry["bytes"]) raw.push_back(static_cast<char>(b.get<int>()));
    return raw;
  }
  return entry.value("token", "");
}

std::vector<EndpointToken> read_logprobs(const json& lp, bool chat) {
  std::vector<EndpointToken> tokens;
  if (!lp.is_object()) return tokens;
  if (chat) {
    if (!lp.contains("content") || !lp["content"].is_array()) return tokens;
    for (const json& e : lp["content"]) {
      EndpointToken t{token_text(e), e.value("logprob", 0.0), {}};
      if (e.contains("top_logprobs") && e["top_logprobs"].is_array()) {
        for (const json& c : e["top_logprobs"]) t.top.emplace_back(token_text(c), c.value("logprob", 0.0));
      }
      tokens.push_back(std::move(t));
    }
    return tokens;
  }
  if (!lp.contains("tokens") || !lp["tokens"].is_array()) return tokens;
  for (size_t i = 0; i < lp["tokens"].size(); ++i) {
    EndpointToken t{lp["tokens"][i].get<std::string>(), 0.0, {}};
    if (lp.contains("token_logprobs") && lp["token_logprobs"].is_array() && i < lp["token_logprobs"].size() &&
        lp["token_logprobs"][i].is_number()) {
      t.logprob = lp["token_logprobs"][i].get<double>();
    }
    if (lp.contains("top_logprobs") && lp["top_logprobs"].is_array() && i < lp["top_logprobs"].size() &&
        lp["top_logprobs"][i].is_object()) {
      for (const auto& [k, v] : lp["top_logprobs"][i].items()) t.top.emplace_back(k, v.is_number() ? v.get<double>() : 0.0);
    }
    tokens.push_back(std::move(t));
  }
  return tokens;
}

}  // namespace

EndpointClient::EndpointClient(EndpointOptions options) : options_(std::move(options)) {
  options_.url = base_url(options_.url);
}

ServerIdentity EndpointClient::identify() {
  httplib::Headers headers;
  ServerIdentity id;
  id.url = options_.url;
  std::string models_error;
  try {
    const json models = request(options_, "GET", "/v1/models", json(), &headers);
    if (models.contains("data") && models["data"].is_array() && !models["data"].empty() &&
        models["data"][0].is_object()) {
      const json& m = models["data"][0];
      id.model = m.value("id", "");
      if (m.contains("lockstep") && m["lockstep"].is_object()) id.model_sha256 = m["lockstep"].value("model_sha256", "");
    }
  } catch (const Unanswered& e) {   // down, too slow or wanting a key is thrown on: nothing else would work
    models_error = e.what_failed();
  }
  if (options_.model.empty()) options_.model = id.model;
  if (id.model.empty()) id.model = options_.model;
  std::string named;
  for (const char* h : {"server", "x-lockstep-version", "x-lockstep-mode"}) {
    auto it = headers.find(h);
    if (it != headers.end()) named += fmt::format(", {}: {}", h, it->second);
  }
  const std::string model = !options_.model.empty() ? options_.model : "?";
  id.description = models_error.empty()
                       ? fmt::format("{} (model {}{})", id.url, model, named)
                       : fmt::format("{} (model {}; /v1/models failed: {}{})", id.url, model, models_error, named);
  return id;
}

EndpointAnswer EndpointClient::generate(const SuiteCase& c, int64_t max_tokens, const SamplingOptions& s,
                                        bool logprobs) const {
  json body{{"max_tokens", max_tokens}, {"temperature", s.temperature}};
  if (!options_.model.empty()) body["model"] = options_.model;
  if (s.temperature > 0) {
    if (s.top_p < 1) body["top_p"] = s.top_p;
    if (s.top_k > 0) body["top_k"] = s.top_k;
    if (s.seed) body["seed"] = *s.seed;
  }
  if (c.chat) {
    body["messages"] = json::array({json{{"role", "user"}, {"content", c.prompt}}});
    if (logprobs) {
      body["logprobs"] = true;
      body["top_logprobs"] = 5;
    }
  } else {
    body["prompt"] = c.prompt;
    if (logprobs) body["logprobs"] = 5;
  }
  const auto start = std::chrono::steady_clock::now();
  const std::string path = c.chat ? "/v1/chat/completions" : "/v1/completions";
  const json doc = request(options_, "POST", path, body);
  EndpointAnswer a;
  a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!doc.contains("choices") || !doc["choices"].is_array() || doc["choices"].empty() ||
      !doc["choices"][0].is_object()) {
    throw bad_input(fmt::format("{}{}: the answer has no choices: {}", options_.url, path, quote(doc.dump())));
  }
  const json& choice = doc["choices"][0];
  if (c.chat) {
    if (choice.contains("message") && choice["message"].is_object() && choice["message"].contains("content") &&
        choice["message"]["content"].is_string()) {
      a.text = choice["message"]["content"].get<std::string>();
    }
  } else if (choice.contains("text") && choice["text"].is_string()) {
    a.text = choice["text"].get<std::string>();
  }
  if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) a.finish_reason = choice["finish_reason"];
  if (choice.contains("logprobs")) a.tokens = read_logprobs(choice["logprobs"], c.chat);
  if (doc.contains("lockstep") && doc["lockstep"].is_object()) {
    const json& l = doc["lockstep"];
    try {
      const json& first = l.at("choices").at(0);
      RunRecord r;
      from_json(first.at("record"), r);
      a.record = std::move(r);
      for (const json& b : first.at("step_batch")) a.step_batch.push_back(b.get<int64_t>());
      if (first.contains("step_row")) {
        for (const json& r : first["step_row"]) a.step_row.push_back(r.get<int64_t>());
      }
      Environment env;
      from_json(l.at("environment"), env);
      a.environment = env;
      a.model_sha256 = l.value("model_sha256", "");
    } catch (const std::exception& e) {
      throw bad_input(fmt::format("{}{}: the answer's lockstep record is malformed ({})", options_.url, path, e.what()));
    }
  }
  return a;
}

}  // namespace lockstep::harness

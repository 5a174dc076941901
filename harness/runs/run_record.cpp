#include "harness/runs/run_record.h"

#include <cmath>
#include <cstring>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/engine/generate.h"
#include "core/error.h"
#include "core/util/sha256.h"

namespace lockstep::harness {

using json = nlohmann::ordered_json;

std::string ids_sha256(const std::vector<int32_t>& ids) {
  std::string bytes;
  bytes.reserve(ids.size() * 4);
  for (int32_t id : ids) {
    const auto bits = static_cast<uint32_t>(id);
    for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<char>((bits >> (8 * b)) & 0xff));
  }
  return sha256_hex(bytes);
}

RunRecord record_of(const Generation& generation, double duration_s) {
  RunRecord record;
  record.prompt_ids = generation.prompt_ids;
  record.output_ids = generation.output_ids;
  record.ids_sha256 = ids_sha256(generation.output_ids);
  record.step_logits_sha256 = generation.step_logits_sha256;
  for (const auto& step : generation.step_top) {
    std::vector<std::pair<int32_t, float>> top;
    for (const TopLogit& t : step) top.emplace_back(t.id, t.logit);
    record.step_top.push_back(std::move(top));
  }
  record.stop_reason = generation.stop_reason;
  record.duration_s = duration_s;
  return record;
}

std::optional<Divergence> first_divergence(const RunRecord& expected, const RunRecord& actual) {
  auto at = [](const RunRecord& r, size_t step, Divergence& d, bool is_expected) {
    std::string& sha = is_expected ? d.expected_sha256 : d.actual_sha256;
    std::optional<int32_t>& token = is_expected ? d.expected_token : d.actual_token;
    if (step < r.step_logits_sha256.size()) sha = r.step_logits_sha256[step];
    if (step < r.output_ids.size()) token = r.output_ids[step];
    if (step < r.step_top.size()) (is_expected ? d.expected_top : d.actual_top) = r.step_top[step];
  };
  auto make = [&](size_t step, const char* reason) {
    Divergence d;
    d.step = static_cast<int64_t>(step);
    d.reason = reason;
    at(expected, step, d, true);
    at(actual, step, d, false);
    for (const auto& [id, logit] : d.expected_top) {
      for (const auto& [other_id, other_logit] : d.actual_top) {
        if (other_id != id) continue;
        if (const auto ulp = ulp_distance(logit, other_logit); ulp && (!d.max_ulp || *ulp > *d.max_ulp)) d.max_ulp = ulp;
      }
    }
    return d;
  };
  if (expected.prompt_ids != actual.prompt_ids) return make(0, "prompt");

  const size_t steps = std::max({expected.step_logits_sha256.size(), actual.step_logits_sha256.size(),
                                 expected.output_ids.size(), actual.output_ids.size()});
  for (size_t step = 0; step < steps; ++step) {
    const bool have_e = step < expected.step_logits_sha256.size() && step < expected.output_ids.size();
    const bool have_a = step < actual.step_logits_sha256.size() && step < actual.output_ids.size();
    if (!have_e || !have_a) return make(step, "length");
    if (expected.step_logits_sha256[step] != actual.step_logits_sha256[step]) return make(step, "logits");
    if (expected.output_ids[step] != actual.output_ids[step]) return make(step, "token");
  }
  // Equal step by step: the ids digest can then differ only if one side
  // recorded it wrongly; still a divergence, never silently a match.
  if (expected.ids_sha256 != actual.ids_sha256) {
    Divergence d = make(steps, "ids_sha256");
    d.expected_sha256 = expected.ids_sha256;
    d.actual_sha256 = actual.ids_sha256;
    return d;
  }
  return std::nullopt;
}

namespace {
// A logit as the shortest decimal that reads back to the same float.
std::string fmt_logit(float f) { return json(f).dump(); }
}  // namespace

std::optional<int64_t> ulp_distance(float a, float b) {
  if (!std::isfinite(a) || !std::isfinite(b)) return std::nullopt;
  // Map the floats onto a line of integers where neighbours differ by one
  // (negative floats mirrored below zero; +0 and -0 both land on 0).
  auto key = [](float f) {
    int32_t bits;
    std::memcpy(&bits, &f, 4);
    return bits < 0 ? -static_cast<int64_t>(bits & 0x7fffffff) : static_cast<int64_t>(bits);
  };
  const int64_t d = key(a) - key(b);
  return d < 0 ? -d : d;
}

std::string describe(const Divergence& d) {
  auto short_sha = [](const std::string& sha) {
    return sha.empty() ? std::string("(none)") : sha.substr(0, 16);
  };
  auto token = [](const std::optional<int32_t>& id, const std::string& text) {
    if (!id) return std::string("(none)");
    std::string out = std::to_string(*id);
    if (!text.empty()) out += " " + json(text).dump(-1, ' ', false, json::error_handler_t::replace);
    return out;
  };
  std::string out = "step " + std::to_string(d.step) + ": ";
  if (d.reason == "prompt") out += "prompt ids differ; ";
  else if (d.reason == "length") out += "one run stopped earlier; ";
  else if (d.reason == "token") out += "same logits, different token; ";
  else if (d.reason == "canonical") out += "a candidate's logit moved beyond the canonical tolerance; ";
  if (!d.expected_sha256.empty() || !d.actual_sha256.empty()) {
    out += (d.reason == "ids_sha256" ? "ids sha256 " : "logits sha256 ") + short_sha(d.expected_sha256) +
           " expected, " + short_sha(d.actual_sha256) + " actual; ";
  }
  out += "token " +
         token(d.expected_token, d.expected_text) + " expected, " + token(d.actual_token, d.actual_text) +
         " actual";
  auto top = [&](const std::vector<std::pair<int32_t, float>>& list, const std::vector<std::string>& texts) {
    std::string s;
    for (size_t i = 0; i < list.size() && i < 3; ++i) {
      s += (i ? ", " : "") + std::to_string(list[i].first);
      if (i < texts.size()) s += " " + json(texts[i]).dump(-1, ' ', false, json::error_handler_t::replace);
      s += " " + fmt_logit(list[i].second);
    }
    return s;
  };
  if (!d.expected_top.empty() || !d.actual_top.empty()) {
    out += "; top expected [" + top(d.expected_top, d.expected_top_text) + "], actual [" +
           top(d.actual_top, d.actual_top_text) + "]";
  }
  if (d.max_ulp) out += "; max ULP distance " + std::to_string(*d.max_ulp);
  return out;
}

namespace {

template <typename T>
T field(const json& in, const char* key) {
  auto it = in.find(key);
  if (it == in.end()) throw bad_input(std::string("missing field '") + key + "'");
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw bad_input(std::string("field '") + key + "' has the wrong type");
  }
}

json optional_token(const std::optional<int32_t>& token) { return token ? json(*token) : json(nullptr); }

std::optional<int32_t> token_from(const json& in, const char* key) {
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return std::nullopt;
  return field<int32_t>(in, key);
}

}  // namespace

namespace {

// step_top as [[[id, logit], ...] per step]. Proof files do not carry it:
// their digest is over canonical JSON, which floats would make
// language-dependent.
using StepTop = std::vector<std::vector<std::pair<int32_t, float>>>;

json step_top_to_json(const StepTop& top) {
  json steps = json::array();
  for (const auto& step : top) {
    json list = json::array();
    for (const auto& [id, logit] : step) list.push_back(json::array({id, logit}));
    steps.push_back(std::move(list));
  }
  return steps;
}

StepTop step_top_from_json(const json& in, const std::string& where) {
  StepTop out;
  try {
    for (const json& step : in) {
      std::vector<std::pair<int32_t, float>> top;
      for (const json& pair : step) top.emplace_back(pair.at(0).get<int32_t>(), pair.at(1).get<float>());
      out.push_back(std::move(top));
    }
  } catch (const json::exception&) {
    throw bad_input(where + ": expected a list of [[id, logit], ...] per step");
  }
  return out;
}

}  // namespace

void to_json(json& out, const RunRecord& r) {
  out = json{{"prompt_ids", r.prompt_ids},           {"output_ids", r.output_ids},
             {"ids_sha256", r.ids_sha256},           {"step_logits_sha256", r.step_logits_sha256},
             {"stop_reason", r.stop_reason},         {"duration_s", r.duration_s}};
  if (!r.step_top.empty()) out["step_top"] = step_top_to_json(r.step_top);
}


void from_json(const json& in, RunRecord& r) {
  if (!in.is_object()) throw bad_input("run record: expected an object");
  r.prompt_ids = field<std::vector<int32_t>>(in, "prompt_ids");
  r.output_ids = field<std::vector<int32_t>>(in, "output_ids");
  r.ids_sha256 = field<std::string>(in, "ids_sha256");
  r.step_logits_sha256 = field<std::vector<std::string>>(in, "step_logits_sha256");
  r.stop_reason = field<std::string>(in, "stop_reason");
  r.duration_s = field<double>(in, "duration_s");
  r.step_top.clear();
  if (auto it = in.find("step_top"); it != in.end()) r.step_top = step_top_from_json(*it, "field 'step_top'");
}

void to_json(json& out, const Divergence& d) {
  out = json{{"step", d.step},
             {"reason", d.reason},
             {"expected_sha256", d.expected_sha256},
             {"actual_sha256", d.actual_sha256},
             {"expected_token", optional_token(d.expected_token)},
             {"actual_token", optional_token(d.actual_token)},
             {"expected_text", d.expected_text},
             {"actual_text", d.actual_text}};
  auto top = [](const std::vector<std::pair<int32_t, float>>& list, const std::vector<std::string>& texts) {
    json out = json::array();
    for (size_t i = 0; i < list.size(); ++i) {
      json c = {{"id", list[i].first}, {"logit", list[i].second}, {"text", i < texts.size() ? texts[i] : ""}};
      out.push_back(std::move(c));
    }
    return out;
  };
  if (!d.expected_top.empty()) out["expected_top"] = top(d.expected_top, d.expected_top_text);
  if (!d.actual_top.empty()) out["actual_top"] = top(d.actual_top, d.actual_top_text);
  if (d.max_ulp) out["max_ulp"] = *d.max_ulp;
}

void from_json(const json& in, Divergence& d) {
  if (!in.is_object()) throw bad_input("first_divergence: expected an object");
  d.step = field<int64_t>(in, "step");
  d.reason = field<std::string>(in, "reason");
  d.expected_sha256 = field<std::string>(in, "expected_sha256");
  d.actual_sha256 = field<std::string>(in, "actual_sha256");
  d.expected_token = token_from(in, "expected_token");
  d.actual_token = token_from(in, "actual_token");
  d.expected_text = in.value("expected_text", "");
  d.actual_text = in.value("actual_text", "");
  auto top = [&](const char* key, std::vector<std::pair<int32_t, float>>& list, std::vector<std::string>& texts) {
    list.clear();
    texts.clear();
    auto it = in.find(key);
    if (it == in.end()) return;
    try {
      for (const json& c : *it) {
        list.emplace_back(c.at("id").get<int32_t>(), c.at("logit").get<float>());
        texts.push_back(c.value("text", ""));
      }
    } catch (const json::exception&) {
      throw bad_input(std::string("field '") + key + "' must be a list of {id, logit, text}");
    }
  };
  top("expected_top", d.expected_top, d.expected_top_text);
  top("actual_top", d.actual_top, d.actual_top_text);
  if (auto it = in.find("max_ulp"); it != in.end() && !it->is_null()) d.max_ulp = field<int64_t>(in, "max_ulp");
}

}  // namespace lockstep::harness

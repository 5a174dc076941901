#include "harness/suite.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "harness/json_reader.h"

namespace lockstep::harness {
namespace {

using json = nlohmann::ordered_json;
using Checker = JsonReader;


Suite parse(const std::string& json_text, const std::string& origin, bool allow_include);

std::string read_suite_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw bad_input("suite " + path + ": cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw bad_input("suite " + path + ": cannot read the file");
  return text.str();
}

Suite parse(const std::string& json_text, const std::string& origin, bool allow_include) {
  const Checker check("suite", origin);
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {   // parse_error, and out_of_range for a number like 1e999
    check.fail("", std::string("invalid JSON: ") + e.what());
  }
  if (!root.is_object()) check.fail("", "expected a JSON object at the top level");
  check.only_keys(root, "", {"schema", "name", "description", "defaults", "cases", "cases_from", "check", "batch_plan"});

  const std::string schema = check.string(check.at(root, "", "schema"), "schema", true);
  if (schema != kSuiteSchema) {
    check.fail("schema", "unknown schema '" + schema + "' (this lockstep reads '" + kSuiteSchema + "')");
  }
  Suite suite;
  suite.name = check.string(check.at(root, "", "name"), "name", true);
  if (auto it = root.find("description"); it != root.end()) {
    suite.description = check.string(*it, "description", false);
  }

  if (auto it = root.find("check"); it != root.end()) {
    if (!it->is_object()) check.fail("check", "expected an object");
    check.only_keys(*it, "check", {"kind", "runs", "processes", "reloads", "workers", "threads"});
    if (auto v = it->find("kind"); v != it->end()) {
      suite.check.kind = check.string(*v, "check.kind", true);
      if (suite.check.kind != "verify" && suite.check.kind != "reload" && suite.check.kind != "stress" &&
          suite.check.kind != "bench") {
        check.fail("check.kind", "'" + suite.check.kind + "' is not one of verify, reload, stress, bench");
      }
    }
    auto count = [&](const char* key, std::optional<int64_t>& out, int64_t minimum) {
      auto v = it->find(key);
      if (v == it->end()) return;
      if (!v->is_number_integer() || v->get<int64_t>() < minimum) {
        check.fail(std::string("check.") + key, "expected an integer >= " + std::to_string(minimum));
      }
      out = v->get<int64_t>();
    };
    count("runs", suite.check.runs, 1);
    count("processes", suite.check.processes, 0);
    count("reloads", suite.check.reloads, 1);
    count("workers", suite.check.workers, 1);
    count("threads", suite.check.threads, 1);
  }

  if (auto it = root.find("batch_plan"); it != root.end()) suite.batch_plan = parse_batch_plan(*it, origin);

  int64_t default_tokens = kDefaultMaxNewTokens;
  bool default_chat = true;
  if (auto it = root.find("defaults"); it != root.end()) {
    if (!it->is_object()) check.fail("defaults", "expected an object");
    check.only_keys(*it, "defaults", {"max_new_tokens", "chat"});
    if (auto v = it->find("max_new_tokens"); v != it->end()) {
      default_tokens = check.positive_int(*v, "defaults.max_new_tokens");
    }
    if (auto v = it->find("chat"); v != it->end()) default_chat = check.boolean(*v, "defaults.chat");
  }

  // "cases_from": another suite file (relative to this one) whose cases,
  // with that suite's own defaults, come first. One level only.
  std::map<std::string, size_t> seen;
  if (auto it = root.find("cases_from"); it != root.end()) {
    const std::string from = check.string(*it, "cases_from", true);
    if (!allow_include) check.fail("cases_from", "a suite named by cases_from cannot itself use cases_from");
    const size_t slash = origin.rfind('/');
    const std::string path = from[0] == '/' || slash == std::string::npos ? from : origin.substr(0, slash + 1) + from;
    Suite included = parse(read_suite_text(path), path, /*allow_include=*/false);
    for (SuiteCase& c : included.cases) {
      seen.emplace(c.id, suite.cases.size());
      suite.cases.push_back(std::move(c));
    }
  }
  json empty = json::array();
  const json& cases = root.contains("cases_from") && !root.contains("cases") ? empty : check.at(root, "", "cases");
  if (!cases.is_array()) check.fail("cases", "expected an array");
  if (cases.empty() && suite.cases.empty()) check.fail("cases", "a suite needs at least one case");
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string where = "cases[" + std::to_string(i) + "]";
    const json& entry = cases[i];
    if (!entry.is_object()) check.fail(where, "expected an object");
    check.only_keys(entry, where, {"id", "prompt", "max_new_tokens", "chat", "tier"});
    SuiteCase c;
    c.id = check.string(check.at(entry, where, "id"), where + ".id", true);
    if (auto [it, inserted] = seen.emplace(c.id, i); !inserted) {
      check.fail(where + ".id", "duplicate id '" + c.id + "' (first used by cases[" +
                                    std::to_string(it->second) + "])");
    }
    // Empty text is a valid chat message (the template still frames it);
    // a raw prompt needs at least one character.
    c.chat = default_chat;
    if (auto v = entry.find("chat"); v != entry.end()) c.chat = check.boolean(*v, where + ".chat");
    c.prompt = check.string(check.at(entry, where, "prompt"), where + ".prompt", !c.chat);
    if (auto v = entry.find("tier"); v != entry.end()) {
      const int64_t tier = check.positive_int(*v, where + ".tier");
      if (tier > kTiers) check.fail(where + ".tier", "expected 1 to " + std::to_string(kTiers));
      c.tier = static_cast<int>(tier);
    }
    c.max_new_tokens = default_tokens;
    if (auto v = entry.find("max_new_tokens"); v != entry.end()) {
      c.max_new_tokens = check.positive_int(*v, where + ".max_new_tokens");
    }
    suite.cases.push_back(std::move(c));
  }
  return suite;
}

}  // namespace

Suite parse_suite(const std::string& json_text, const std::string& origin) {
  return parse(json_text, origin, /*allow_include=*/true);
}

const char* tier_name(int tier) {
  static const char* const names[kTiers + 1] = {"",          "sanity",    "long output",
                                                "uncertain / creative", "complex code", "reasoning",
                                                "deep context", "adversarial near-ties", "edge cases"};
  return tier >= 0 && tier <= kTiers ? names[tier] : "";
}

Suite load_suite(const std::string& path) {
  Suite suite = parse_suite(read_suite_text(path), path);
  suite.path = path;
  return suite;
}

Suite suite_from_prompts(const std::vector<std::string>& prompts, int64_t max_new_tokens) {
  if (prompts.empty()) throw bad_input("no prompts given");
  Suite suite;
  suite.name = "prompts";
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) throw bad_input("--prompt " + std::to_string(i + 1) + " is empty");
    suite.cases.push_back({"prompt-" + std::to_string(i + 1), prompts[i], max_new_tokens, true});
  }
  return suite;
}

void override_max_new_tokens(Suite& suite, int64_t max_new_tokens) {
  if (max_new_tokens < 1) {
    throw bad_input("--max-new-tokens must be at least 1, got " + std::to_string(max_new_tokens));
  }
  for (SuiteCase& c : suite.cases) c.max_new_tokens = max_new_tokens;
}

void select_cases(Suite& suite, const std::vector<std::string>& ids, const std::vector<int64_t>& tiers) {
  for (const std::string& id : ids) {
    if (std::none_of(suite.cases.begin(), suite.cases.end(), [&](const SuiteCase& c) { return c.id == id; })) {
      throw bad_input("--case " + id + ": no case of that id in suite " + suite.name);
    }
  }
  for (int64_t tier : tiers) {
    if (std::none_of(suite.cases.begin(), suite.cases.end(), [&](const SuiteCase& c) { return c.tier == tier; })) {
      throw bad_input("--tier " + std::to_string(tier) + ": no case of that tier in suite " + suite.name + " (tiers 1-8)");
    }
  }
  auto keep = [&](const SuiteCase& c) {
    const bool by_id = ids.empty() || std::count(ids.begin(), ids.end(), c.id) > 0;
    const bool by_tier = tiers.empty() || std::count(tiers.begin(), tiers.end(), int64_t{c.tier}) > 0;
    return by_id && by_tier;
  };
  suite.cases.erase(std::remove_if(suite.cases.begin(), suite.cases.end(), [&](const SuiteCase& c) { return !keep(c); }),
                    suite.cases.end());
  if (suite.cases.empty()) throw bad_input("--case and --tier together select no case of suite " + suite.name);
}

}  // namespace lockstep::harness

// Suites are data (suites/*.json, schema "lockstep.suite/0"): a name, case
// defaults and a list of prompts with ids. Everything is validated on load so
// a typo in a suite fails before any model is loaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/runs/batch_plan.h"

namespace lockstep::harness {

struct SuiteCase {
  std::string id;
  std::string prompt;
  int64_t max_new_tokens = 0;   // resolved: the case's own, else the suite default
  bool chat = true;             // false: the prompt is tokenized raw
  int tier = 0;                 // 1..kTiers in the tiers benchmark, 0 elsewhere
};

// The eight tiers of suites/tiers.json (`lockstep bench`).
inline constexpr int kTiers = 8;
const char* tier_name(int tier);   // "sanity", ..., "edge cases"; "" for 0

// How `lockstep suite FILE` runs a suite ("check" in the file; absent:
// verify with its defaults). Counts left unset take the command's defaults.
struct SuiteCheck {
  std::string kind = "verify";            // verify | reload | stress | bench
  std::optional<int64_t> runs, processes, reloads, workers, threads;
};

struct Suite {
  std::string name;
  SuiteCheck check;
  std::string description;
  std::string path;             // "" for suites built from --prompt
  std::vector<SuiteCase> cases;
  std::optional<BatchPlan> batch_plan;   // "batch_plan" (harness/runs/batch_plan.h); none: solo runs only
};

inline constexpr const char* kSuiteSchema = "lockstep.suite/0";
inline constexpr int64_t kDefaultMaxNewTokens = 64;

// bad_input naming the file and the offending field for: unreadable file,
// invalid JSON, unknown schema, missing or unknown keys, wrong types,
// max_new_tokens < 1, empty or duplicate ids, empty raw prompts, a tier
// outside 1..8, no cases. (An empty chat prompt is a valid message.)
Suite parse_suite(const std::string& json_text, const std::string& origin);
Suite load_suite(const std::string& path);

// A suite of ad-hoc prompts (ids "prompt-1", "prompt-2", ...), chat-formatted.
Suite suite_from_prompts(const std::vector<std::string>& prompts, int64_t max_new_tokens);

// Every case's max_new_tokens replaced (the --max-new-tokens override).
void override_max_new_tokens(Suite& suite, int64_t max_new_tokens);

// Keeps the cases whose id is among `ids` (none given: any) and whose tier
// is among `tiers` (none given: any), in the suite's order (--case, --tier).
// bad_input for an id or tier that matches no case, or for a selection of
// no case at all.
void select_cases(Suite& suite, const std::vector<std::string>& ids, const std::vector<int64_t>& tiers);

}  // namespace lockstep::harness

#include "harness/runs/batch_plan.h"

#include <algorithm>
#include <set>

// No fmt here: the suite parser's fuzz target links this file alone (ci/fuzz.sh).
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "harness/json_reader.h"

namespace lockstep::harness {
namespace {

using json = nlohmann::ordered_json;

// [lo, hi] with 1 <= lo <= hi.
std::pair<int64_t, int64_t> range(const JsonReader& check, const json& value, const std::string& where) {
  if (!value.is_array() || value.size() != 2) check.fail(where, "expected [min, max]");
  const int64_t lo = check.positive_int(value[0], where + "[0]");
  const int64_t hi = check.positive_int(value[1], where + "[1]");
  if (lo > hi) check.fail(where, "min is larger than max");
  return {lo, hi};
}

FillerSampling sampling_of(const JsonReader& check, const json& value, const std::string& where) {
  if (!value.is_object()) check.fail(where, "expected an object");
  check.only_keys(value, where, {"temperature", "top_k", "top_p"});
  FillerSampling s;
  s.temperature = check.number(check.at(value, where, "temperature"), where + ".temperature", 1e-6, 100.0);
  if (auto v = value.find("top_k"); v != value.end()) s.top_k = check.positive_int(*v, where + ".top_k");
  if (auto v = value.find("top_p"); v != value.end()) s.top_p = check.number(*v, where + ".top_p", 1e-6, 1.0);
  return s;
}

FillerPlan default_fillers() {
  FillerPlan f;
  f.long_prompt = 300;
  f.sampling = {FillerSampling{0.7, 20, 1.0}, FillerSampling{1.2, 0, 0.9}, FillerSampling{0.4, 5, 0.6}};
  return f;
}

}  // namespace

std::vector<std::string> BatchPlan::round_labels() const {
  std::vector<std::string> labels;
  for (int64_t b : sizes) labels.push_back("batch-" + std::to_string(b));
  if (join_after > 0) {
    labels.push_back("join-a");
    labels.push_back("join-b");
  }
  return labels;
}

BatchPlan parse_batch_plan(const json& value, const std::string& origin) {
  const JsonReader check("suite", origin);
  const std::string at = "batch_plan";
  if (!value.is_object()) check.fail(at, "expected an object");
  check.only_keys(value, at, {"sizes", "join_after_steps", "fillers"});
  BatchPlan plan;
  plan.fillers = default_fillers();
  if (auto v = value.find("sizes"); v != value.end()) {
    if (!v->is_array()) check.fail(at + ".sizes", "expected an array of batch sizes");
    std::set<int64_t> seen;
    for (size_t i = 0; i < v->size(); ++i) {
      const std::string where = at + ".sizes[" + std::to_string(i) + "]";
      const int64_t b = check.positive_int((*v)[i], where);
      if (b < 2) check.fail(where, "a co-batched size is at least 2 (1 is the solo reference)");
      if (!seen.insert(b).second) check.fail(where, "repeated size " + std::to_string(b));
      plan.sizes.push_back(b);
    }
  }
  if (auto v = value.find("join_after_steps"); v != value.end()) {
    plan.join_after = check.positive_int(*v, at + ".join_after_steps");
  }
  if (auto v = value.find("fillers"); v != value.end()) {
    const std::string where = at + ".fillers";
    if (!v->is_object()) check.fail(where, "expected an object");
    check.only_keys(*v, where, {"seed", "prompt_tokens", "long_prompt_tokens", "new_tokens", "sampling"});
    FillerPlan& f = plan.fillers;
    if (auto s = v->find("seed"); s != v->end()) {
      if (!s->is_number_unsigned()) check.fail(where + ".seed", "expected an integer >= 0");
      f.seed = s->get<uint64_t>();
    }
    if (auto r = v->find("prompt_tokens"); r != v->end()) {
      std::tie(f.min_prompt, f.max_prompt) = range(check, *r, where + ".prompt_tokens");
    }
    if (auto r = v->find("new_tokens"); r != v->end()) std::tie(f.min_new, f.max_new) = range(check, *r, where + ".new_tokens");
    if (auto l = v->find("long_prompt_tokens"); l != v->end()) {
      if (!l->is_number_unsigned()) check.fail(where + ".long_prompt_tokens", "expected an integer >= 0");
      f.long_prompt = l->get<int64_t>();
    }
    if (auto s = v->find("sampling"); s != v->end()) {
      if (!s->is_array() || s->empty()) {
        check.fail(where + ".sampling", "expected a non-empty array (every batch has a sampling neighbour)");
      }
      f.sampling.clear();
      for (size_t i = 0; i < s->size(); ++i) f.sampling.push_back(sampling_of(check, (*s)[i], where + ".sampling[" + std::to_string(i) + "]"));
    }
  }
  if (plan.empty()) check.fail(at, "plans nothing: give sizes or join_after_steps");
  return plan;
}

BatchPlan batch_plan_with_sizes(std::vector<int64_t> sizes, int64_t join_after) {
  std::sort(sizes.begin(), sizes.end());
  for (int64_t b : sizes) {
    if (b < 2) throw bad_input("--batch-sizes: a co-batched size is at least 2 (1 is the solo reference), got " + std::to_string(b));
  }
  if (std::adjacent_find(sizes.begin(), sizes.end()) != sizes.end()) throw bad_input("--batch-sizes: a size is repeated");
  if (join_after < 0) throw bad_input("--join-after must not be negative");
  BatchPlan plan;
  plan.sizes = std::move(sizes);
  plan.join_after = join_after;
  plan.fillers = default_fillers();
  return plan;
}


}  // namespace lockstep::harness

#include "harness/results/results.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "harness/atomic_file.h"
#include "kernels/enum_names.h"

namespace lockstep::harness {

using json = nlohmann::ordered_json;

namespace {
constexpr kernels::Named<RunKind> kRunKinds[] = {{RunKind::in_process, "in-process"},
                                                 {RunKind::reload, "reload"},
                                                 {RunKind::process, "process"},
                                                 {RunKind::thread, "thread"},
                                                 {RunKind::batch, "batch"}};
}  // namespace

const char* to_string(RunKind kind) { return kernels::name_of(kRunKinds, kind, "?"); }

bool BatchPlace::has_sampling_neighbour() const {
  return std::any_of(neighbours.begin(), neighbours.end(), [](const Neighbour& n) { return n.sampling != "greedy"; });
}

namespace {

RunKind run_kind_from(const std::string& text) {
  if (const RunKind* kind = kernels::value_of(kRunKinds, text)) return *kind;
  throw bad_input("results: unknown run kind '" + text + "'");
}

json batch_to_json(const BatchPlace& b) {
  json neighbours = json::array();
  for (const Neighbour& n : b.neighbours) {
    neighbours.push_back(json{{"request", n.request},
                              {"prompt_tokens", n.prompt_tokens},
                              {"new_tokens", n.new_tokens},
                              {"sampling", n.sampling},
                              {"steps", json::array({n.first_step, n.last_step})}});
  }
  return json{{"sizes", b.sizes},
              {"rows", b.rows},
              {"joined_running", b.joined_running},
              {"joined_by_others", b.joined_by_others},
              {"neighbours", neighbours}};
}

BatchPlace batch_from_json(const json& in) {
  BatchPlace b;
  b.sizes = in.at("sizes").get<std::vector<int64_t>>();
  b.rows = in.at("rows").get<std::vector<int64_t>>();
  b.joined_running = in.at("joined_running").get<bool>();
  b.joined_by_others = in.at("joined_by_others").get<bool>();
  for (const json& n : in.at("neighbours")) {
    const auto steps = n.at("steps").get<std::vector<int64_t>>();
    if (steps.size() != 2) throw bad_input("results: a neighbour's steps are [first, last]");
    b.neighbours.push_back(Neighbour{n.at("request").get<std::string>(), n.at("prompt_tokens").get<int64_t>(),
                                     n.at("new_tokens").get<int64_t>(), n.at("sampling").get<std::string>(), steps[0],
                                     steps[1]});
  }
  return b;
}

json run_to_json(const RunResult& run) {
  json out{{"label", run.label},
           {"kind", to_string(run.kind)},
           {"match", run.match},
           {"duration_s", run.duration_s},
           {"first_divergence", run.first_divergence ? json(*run.first_divergence) : json(nullptr)},
           {"error", run.error.empty() ? json(nullptr) : json(run.error)}};
  if (run.batch) out["batch"] = batch_to_json(*run.batch);
  if (const auto& a = run.first_divergent_activation) {
    out["first_divergent_activation"] =
        a->found ? json{{"found", true}, {"position", a->position}, {"step", a->step < 0 ? json(nullptr) : json(a->step)},
                        {"layer", a->layer},
                        {"op", a->op}, {"expected_sha256", a->expected_sha256}, {"actual_sha256", a->actual_sha256},
                        {"what", a->what}}
                 : json{{"found", false}, {"what", a->what}};
  }
  return out;
}

RunResult run_from_json(const json& in) {
  RunResult run;
  run.label = in.at("label").get<std::string>();
  run.kind = run_kind_from(in.at("kind").get<std::string>());
  run.match = in.at("match").get<bool>();
  run.duration_s = in.at("duration_s").get<double>();
  if (const json& d = in.at("first_divergence"); !d.is_null()) run.first_divergence = d.get<Divergence>();
  if (const json& e = in.at("error"); !e.is_null()) run.error = e.get<std::string>();
  if (auto b = in.find("batch"); b != in.end()) run.batch = batch_from_json(*b);
  if (auto a = in.find("first_divergent_activation"); a != in.end()) {
    ActivationDivergence d;
    d.found = a->at("found").get<bool>();
    d.what = a->at("what").get<std::string>();
    if (d.found) {
      d.position = a->at("position").get<int64_t>();
      d.step = a->at("step").is_null() ? -1 : a->at("step").get<int64_t>();
      d.layer = a->at("layer").get<int64_t>();
      d.op = a->at("op").get<std::string>();
      d.expected_sha256 = a->at("expected_sha256").get<std::string>();
      d.actual_sha256 = a->at("actual_sha256").get<std::string>();
    }
    run.first_divergent_activation = std::move(d);
  }
  return run;
}

json case_to_json(const CaseResult& c) {
  json runs = json::array();
  for (const RunResult& run : c.runs) runs.push_back(run_to_json(run));
  return json{{"id", c.id},
              {"prompt", c.prompt},
              {"chat", c.chat},
              {"max_new_tokens", c.max_new_tokens},
              {"tier", c.tier == 0 ? json(nullptr) : json(c.tier)},
              {"prompt_ids", c.reference.prompt_ids},
              {"output_ids", c.reference.output_ids},
              {"text", c.text},
              {"stop_reason", c.reference.stop_reason},
              {"ids_sha256", c.reference.ids_sha256},
              {"step_logits_sha256", c.reference.step_logits_sha256},
              {"reference", {{"label", "run-1"}, {"kind", "in-process"}, {"duration_s", c.reference.duration_s}}},
              {"passed", c.passed()},
              {"runs", runs}};
}

CaseResult case_from_json(const json& in) {
  CaseResult c;
  c.id = in.at("id").get<std::string>();
  c.prompt = in.at("prompt").get<std::string>();
  c.chat = in.at("chat").get<bool>();
  c.max_new_tokens = in.at("max_new_tokens").get<int64_t>();
  if (auto t = in.find("tier"); t != in.end() && !t->is_null()) c.tier = t->get<int>();
  c.text = in.at("text").get<std::string>();
  c.reference.prompt_ids = in.at("prompt_ids").get<std::vector<int32_t>>();
  c.reference.output_ids = in.at("output_ids").get<std::vector<int32_t>>();
  c.reference.stop_reason = in.at("stop_reason").get<std::string>();
  c.reference.ids_sha256 = in.at("ids_sha256").get<std::string>();
  c.reference.step_logits_sha256 = in.at("step_logits_sha256").get<std::vector<std::string>>();
  c.reference.duration_s = in.at("reference").at("duration_s").get<double>();
  for (const json& run : in.at("runs")) c.runs.push_back(run_from_json(run));
  return c;
}

}  // namespace

bool CaseResult::passed() const {
  for (const RunResult& run : runs) {
    if (!run.match) return false;
  }
  return true;
}

bool VerifyResults::passed() const {
  for (const CaseResult& c : cases) {
    if (!c.passed()) return false;
  }
  return !golden || golden->passed();
}

bool GoldenCheck::passed() const {
  for (const CaseVerdict& v : cases) {
    if (!v.match) return false;
  }
  return true;
}

void to_json(json& out, const CaseVerdict& v) {
  out = json{{"id", v.id},
             {"match", v.match},
             {"first_divergence", v.divergence ? json(*v.divergence) : json(nullptr)},
             {"note", v.note.empty() ? json(nullptr) : json(v.note)}};
}

void from_json(const json& in, CaseVerdict& v) {
  v.id = in.at("id").get<std::string>();
  v.match = in.at("match").get<bool>();
  if (const json& d = in.at("first_divergence"); !d.is_null()) v.divergence = d.get<Divergence>();
  if (const json& n = in.at("note"); !n.is_null()) v.note = n.get<std::string>();
}

Counts VerifyResults::counts() const {
  Counts counts;
  for (const CaseResult& c : cases) {
    ++counts.cases;
    if (!c.passed()) ++counts.cases_failed;
    for (const RunResult& run : c.runs) {
      ++counts.comparisons;
      if (!run.match) ++counts.comparisons_failed;
    }
  }
  return counts;
}

// {"1": n, "8": m}: JSON keys are strings.
json sizes_to_json(const std::map<int64_t, int64_t>& sizes) {
  json out = json::object();
  for (const auto& [size, steps] : sizes) out[std::to_string(size)] = steps;
  return out;
}

json to_json(const VerifyResults& r) {
  const Counts counts = r.counts();
  json cases = json::array();
  for (const CaseResult& c : r.cases) cases.push_back(case_to_json(c));
  return json{
      {"schema", kResultsSchema},
      {"tool", {{"name", "lockstep"}, {"version", r.environment.lockstep_version}}},
      {"command", r.command},
      {"started_at", r.started_at},
      {"duration_s", r.duration_s},
      {"environment", r.environment},
      {"model", {{"path", r.model.path}, {"name", r.model.name}, {"file_sha256", r.model.file_sha256}}},
      {"suite", {{"name", r.suite_name}, {"path", r.suite_path.empty() ? json(nullptr) : json(r.suite_path)}}},
      {"settings", {{"runs", r.runs}, {"processes", r.processes}, {"batch_rounds", r.batch_rounds}}},
      {"batch_sizes", sizes_to_json(r.batch_sizes)},
      {"verdict", r.passed() ? "pass" : "fail"},
      {"counts",
       {{"cases", counts.cases},
        {"cases_passed", counts.cases - counts.cases_failed},
        {"cases_failed", counts.cases_failed},
        {"comparisons", counts.comparisons},
        {"comparisons_failed", counts.comparisons_failed}}},
      {"cases", cases},
      {"golden", r.golden ? json{{"path", r.golden->path},
                                 {"level", r.golden->level},
                                 {"written", r.golden->written},
                                 {"verdict", r.golden->passed() ? "pass" : "fail"},
                                 {"cases", r.golden->cases}}
                          : json(nullptr)}};
}

VerifyResults results_from_json(const json& doc) {
  if (!doc.is_object() || doc.value("schema", "") != kResultsSchema) {
    throw bad_input(std::string("results: not a ") + kResultsSchema + " document");
  }
  try {
    VerifyResults r;
    r.command = doc.at("command").get<std::vector<std::string>>();
    r.started_at = doc.at("started_at").get<std::string>();
    r.duration_s = doc.at("duration_s").get<double>();
    r.environment = doc.at("environment").get<Environment>();
    const json& model = doc.at("model");
    r.model = {model.at("path").get<std::string>(), model.at("name").get<std::string>(),
               model.at("file_sha256").get<std::string>()};
    r.suite_name = doc.at("suite").at("name").get<std::string>();
    if (const json& p = doc.at("suite").at("path"); !p.is_null()) r.suite_path = p.get<std::string>();
    r.runs = doc.at("settings").at("runs").get<int64_t>();
    r.processes = doc.at("settings").at("processes").get<int64_t>();
    r.batch_rounds = doc.at("settings").value("batch_rounds", std::vector<std::string>{});
    if (auto b = doc.find("batch_sizes"); b != doc.end()) {
      for (const auto& item : b->items()) {
        const std::string& key = item.key();
        if (key.empty() || key.size() > 9 || key.find_first_not_of("0123456789") != std::string::npos) {
          throw bad_input("results: batch_sizes key '" + key + "' is not a batch size");
        }
        r.batch_sizes[std::stoll(key)] = item.value().get<int64_t>();
      }
    }
    for (const json& c : doc.at("cases")) r.cases.push_back(case_from_json(c));
    if (auto g = doc.find("golden"); g != doc.end() && !g->is_null()) {
      GoldenCheck check;
      check.path = g->at("path").get<std::string>();
      check.level = g->at("level").get<std::string>();
      check.written = g->at("written").get<bool>();
      check.cases = g->at("cases").get<std::vector<CaseVerdict>>();
      r.golden = std::move(check);
    }
    return r;
  } catch (const json::exception& e) {
    throw bad_input(std::string("results: ") + e.what());
  }
}

std::string dump_json(const json& value, int indent) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

void write_results(const std::string& path, const VerifyResults& results) {
  write_file_atomically(path, dump_json(to_json(results)) + "\n");
}

void start_results(VerifyResults& results, const Suite& suite) {
  results.suite_name = suite.name;
  results.suite_path = suite.path;
  for (const SuiteCase& c : suite.cases) {
    CaseResult result;
    result.id = c.id;
    result.prompt = c.prompt;
    result.chat = c.chat;
    result.max_new_tokens = c.max_new_tokens;
    result.tier = c.tier;
    results.cases.push_back(std::move(result));
  }
}

std::string where_in_batch(const RunResult& run) {
  if (!run.batch || !run.first_divergence || run.first_divergence->step < 0) return "";
  const auto step = static_cast<size_t>(run.first_divergence->step);
  if (step >= run.batch->sizes.size()) return "";
  std::string where = " in a batch of " + std::to_string(run.batch->sizes[step]);
  if (step < run.batch->rows.size()) where += " (row " + std::to_string(run.batch->rows[step]) + ")";
  return where;
}

}  // namespace lockstep::harness

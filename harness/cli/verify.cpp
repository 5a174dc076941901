// `lockstep verify` and run_check(), which also runs bench, reload and stress
// (harness/cli/checks.cpp): the determinism checks (harness/runs/verifier.h), their
// reports (results.json, junit.xml), golden proofs and the hidden worker mode.
#include <sys/resource.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "harness/cli/check.h"
#include "harness/device_options.h"
#include "harness/endpoint/endpoint_verify.h"
#include "harness/cli/command.h"
#include "harness/cli/exit_codes.h"
#include "harness/atomic_file.h"
#include "harness/runs/fault_hook.h"
#include "harness/proofs/golden_gate.h"
#include "harness/results/junit.h"
#include "harness/model_source.h"
#include "harness/paths.h"
#include "harness/proofs/proof.h"
#include "harness/results/results.h"
#include "harness/suite.h"
#include "harness/runs/verifier.h"
#include "kernels/mode.h"

namespace lockstep::cli {
namespace {

harness::Suite load_cases(const VerifyOptions& o) {
  if (!o.suite.empty() && !o.prompts.empty()) throw bad_input("give --suite or --prompt, not both");
  if (o.suite.empty() && o.prompts.empty()) throw bad_input("nothing to verify: give --suite FILE or --prompt TEXT");
  harness::Suite suite = o.suite.empty() ? harness::suite_from_prompts(o.prompts, kPromptMaxNewTokens)
                                         : harness::load_suite(o.suite);
  if (o.max_new_tokens) harness::override_max_new_tokens(suite, *o.max_new_tokens);
  harness::select_cases(suite, o.case_ids, o.tiers);
  return suite;
}

// The argv of a worker: this binary, the same cases, the resolved model.
std::vector<std::string> worker_command(const VerifyOptions& o, const std::string& model_path) {
  // "--flag=value": a prompt that starts with '-' must not be read as a flag.
  std::vector<std::string> argv = {"/proc/self/exe", "verify",          "--model=" + model_path,
                                   "--mode=" + o.mode, "--device=" + o.device, "--dtype=" + o.dtype};
  if (!o.suite.empty()) argv.push_back("--suite=" + harness::absolute_path(o.suite));
  for (const std::string& prompt : o.prompts) argv.push_back("--prompt=" + prompt);
  if (o.max_new_tokens) argv.push_back("--max-new-tokens=" + std::to_string(*o.max_new_tokens));
  for (const std::string& id : o.case_ids) argv.push_back("--case=" + id);
  for (int64_t tier : o.tiers) argv.push_back("--tier=" + std::to_string(tier));
  return argv;
}

// The tiers benchmark's table: cases and generated tokens per tier, how many
// cases reproduced in every run, and the reference run's tokens/s.
void print_tiers(const harness::VerifyResults& r, std::ostream& out) {
  struct Row { int64_t cases = 0, passed = 0, tokens = 0; double seconds = 0.0; };
  std::map<int, Row> rows;
  for (const harness::CaseResult& c : r.cases) {
    if (c.tier == 0) continue;
    Row& row = rows[c.tier];
    ++row.cases;
    row.passed += c.passed();
    row.tokens += static_cast<int64_t>(c.reference.output_ids.size());
    row.seconds += c.reference.duration_s;
  }
  if (rows.empty()) return;
  out << "bench: tier                      cases  pass  tokens  tok/s\n";
  for (const auto& [tier, row] : rows) {
    out << fmt::format("bench: {} {:<22} {:>5} {:>5} {:>7} {:>6.1f}{}\n", tier, harness::tier_name(tier),
                             row.cases, row.passed, row.tokens, row.seconds > 0 ? row.tokens / row.seconds : 0.0,
                             row.passed == row.cases ? "" : "  FAIL");
  }
}

void print_summary(const harness::VerifyResults& r, const std::string& results_path, const std::string& junit_path,
                   bool json, const std::string& label) {
  const harness::Counts counts = r.counts();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cerr << fmt::format("{}: {}: {} of {} comparisons differ, {} of {} cases failed ({:.1f}s, peak RSS {:.0f} MiB)\n",
                           label, r.passed() ? "PASS" : "FAIL", counts.comparisons_failed, counts.comparisons,
                           counts.cases_failed, counts.cases, r.duration_s,
                           static_cast<double>(usage.ru_maxrss) / 1024.0);
  auto first_failure = [&]() -> std::string {
    for (const harness::CaseResult& c : r.cases) {
      for (const harness::RunResult& run : c.runs) {
        if (run.match) continue;
        if (!run.error.empty()) return "case '" + c.id + "' " + run.label + ": " + run.error;
        std::string text = "case '" + c.id + "' " + run.label + harness::where_in_batch(run) + ": " +
                           harness::describe(*run.first_divergence);
        if (run.first_divergent_activation) text += "; " + run.first_divergent_activation->what;
        return text;
      }
    }
    return "";
  };
  if (r.golden) {
    const harness::GoldenCheck& g = *r.golden;
    if (g.written) {
      std::cerr << label << ": golden: wrote " << g.path << "\n";
    } else {
      int64_t differing = 0;
      for (const harness::CaseVerdict& v : g.cases) differing += !v.match;
      std::cerr << fmt::format("{}: golden ({}): {} of {} cases differ from {}\n", label, g.level, differing,
                               g.cases.size(), g.path);
      for (const harness::CaseVerdict& v : g.cases) {
        if (v.match) continue;
        std::cerr << label << ": golden: first differing case '" << v.id
                  << "': " << (v.divergence ? harness::describe(*v.divergence) : v.note) << "\n";
        break;
      }
    }
  }
  print_tiers(r, table_stream(json));
  if (!r.passed()) {
    if (const std::string failure = first_failure(); !failure.empty()) std::cerr << label << ": first failure: " << failure << "\n";
  }
  std::cerr << label << ": results: " << results_path << "\n" << label << ": junit: " << junit_path << "\n";
}

// The suite's batch plan with the command line's changes; none if neither gives one.
std::optional<harness::BatchPlan> batch_plan_of(const VerifyOptions& o, const harness::Suite& suite) {
  if (o.no_batch_plan) {
    if (!o.batch_sizes.empty() || o.join_after) throw bad_input("--no-batch-plan excludes --batch-sizes and --join-after");
    return std::nullopt;
  }
  std::optional<harness::BatchPlan> plan = suite.batch_plan;
  if (o.batch_sizes.empty() && !o.join_after) return plan;
  harness::BatchPlan changed = harness::batch_plan_with_sizes(
      o.batch_sizes.empty() && plan ? plan->sizes : o.batch_sizes, o.join_after.value_or(plan ? plan->join_after : 0));
  if (plan) changed.fillers = plan->fillers;
  if (changed.empty()) return std::nullopt;
  return changed;
}

harness::VerifyResults run_against_endpoint(const VerifyOptions& o, const harness::Suite& suite,
                                           const harness::Progress& progress) {
  harness::EndpointVerifyPlan p;
  p.suite = suite;
  p.endpoint = endpoint_options(o.endpoint);
  p.runs = o.runs;
  p.fillers = o.fillers;
  if (o.check == Check::stress) {
    p.runs = 1;   // the reference, then the workers
    p.workers = o.workers;
    p.threads = o.threads;
  }
  p.level = o.endpoint.level_asked();
  return harness::run_endpoint_verify(p, progress);
}

}  // namespace

int run_check(const VerifyOptions& given) {
  VerifyOptions o = given;
  if (o.suite.empty() && o.prompts.empty() && o.check_name == "bench") o.suite = LOCKSTEP_SOURCE_DIR "/suites/tiers.json";
  if (o.runs < 1) throw bad_input("--runs must be at least 1");
  if (o.processes < 0) throw bad_input("--processes must not be negative");
  const kernels::ModeGuard mode(mode_option(o.mode));
  const LoadOptions load = harness::parse_load_options(o.device, o.dtype);
  harness::Suite suite = load_cases(o);
  // A suite's own "check" counts hold unless the command line gives them (verify and bench).
  if (o.check == Check::verify && o.worker.empty()) {
    if (!o.runs_set && suite.check.runs) o.runs = *suite.check.runs;
    if (!o.processes_set && suite.check.processes) o.processes = *suite.check.processes;
  }
  const std::optional<harness::Fault> fault = harness::fault_from_environment();
  const bool remote = o.endpoint.given();
  if (remote && o.check == Check::reload) {
    throw bad_input("reload --endpoint: lockstep cannot reload a server's model; restart the server and run verify "
                    "--endpoint with --golden against a proof of the first start");
  }
  if (remote && !o.worker.empty()) throw bad_input("--worker runs the in-process engine; it takes no --endpoint");
  const std::string model_path = remote ? std::string() : harness::resolve_model_path(o.model);

  if (!o.worker.empty()) {
    std::cout << harness::dump_json(harness::worker_output(suite, model_path, load, o.worker, fault), -1) << "\n";
    return kOk;
  }

  const std::string results_path = o.results.empty() ? harness::join_path(o.out_dir, "results.json") : o.results;
  const std::string junit_path = o.junit.empty() ? harness::join_path(o.out_dir, "junit.xml") : o.junit;
  // Fail now, not after minutes of generation, if the reports cannot be saved.
  harness::check_writable(results_path);
  harness::check_writable(junit_path);
  const std::string proof_path = o.proof_out.empty() ? harness::join_path(o.out_dir, "proof.json") : o.proof_out;
  harness::check_writable(proof_path);
  // A bad golden file fails before the run, not after it.
  harness::GoldenRequest golden_request;
  golden_request.path = o.golden;
  golden_request.level = harness::parse_proof_level(o.golden_level);
  golden_request.tolerance = o.golden_tolerance;
  golden_request.update = o.update_golden;
  golden_request.create_dir = o.create_golden_dir;
  golden_request.subset = !o.case_ids.empty() || !o.tiers.empty();
  std::optional<harness::Environment> here;
  if (!remote && !o.golden.empty() && !o.update_golden) {   // a server's is known after its first answer
    here.emplace();
    here->mode = kernels::mode_name(kernels::mode());
    harness::describe_device(*here, load);
  }
  const harness::GoldenGate gate = harness::open_golden(golden_request, here, model_path);
  if (remote && (!o.batch_sizes.empty() || o.join_after || o.processes_set)) {
    throw bad_input("--endpoint runs every case with --fillers concurrent requests; --batch-sizes, --join-after "
                    "and --processes apply to the in-process engine only");
  }
  if (fault) std::cerr << "verify: TEST-ONLY fault injection active: " << harness::describe(*fault) << "\n";

  harness::VerifyPlan plan;
  plan.suite = std::move(suite);
  plan.model_path = model_path;
  plan.model_sha256 = gate.model_sha256;
  plan.load = load;
  plan.runs = o.runs;
  plan.processes = o.processes;
  if (o.check == Check::reload) {
    if (o.reloads < 1) throw bad_input("--reloads must be at least 1");
    plan.runs = o.reloads + 1;   // the reference, then one run per fresh load
    plan.reload_every_run = true;
  } else if (o.check == Check::stress) {
    if (o.workers < 1) throw bad_input("--workers must be at least 1");
    if (o.threads < 1) throw bad_input("--threads must be at least 1");
    plan.runs = 1;               // the reference
    plan.workers = o.workers;
    plan.threads = o.threads;
  }
  if (o.check == Check::verify) plan.batch_plan = batch_plan_of(o, plan.suite);
  if (o.plan_repeats != 1 && !plan.batch_plan) throw bad_input("--plan-repeats needs a batch plan (the suite's or --batch-sizes)");
  plan.plan_repeats = o.plan_repeats;
  if (o.localise < 0) throw bad_input("--localise must be >= 0");
  plan.localise = o.localise;
  plan.worker_command = worker_command(o, model_path);
  plan.fault = fault;
  // The verifier's progress lines begin "verify:"; bench, reload and stress say their own name.
  const std::string label = o.check_name == "suite" || o.check_name.empty() ? "verify" : o.check_name;
  const harness::Progress progress = [&label](const std::string& line) {
    std::cerr << (line.rfind("verify:", 0) == 0 ? label + line.substr(6) : line) << std::endl;
  };
  harness::VerifyResults results = remote ? run_against_endpoint(o, plan.suite, progress)
                                          : harness::run_verify(plan, progress);
  results.command = o.argv;

  // This run's proof, beside results.json: what a cross-hardware comparison (`proof diff`,
  // `proof merge`) takes. A run artifact, replaced like results.json; golden files are not.
  const harness::Proof mine = harness::proof_of(results);
  harness::write_proof(proof_path, mine, /*overwrite=*/true, "");
  if (!o.golden.empty()) results.golden = harness::settle_golden(gate, results, mine, progress);

  harness::write_results(results_path, results);
  harness::write_junit(junit_path, results);
  if (o.json) std::cout << harness::dump_json(harness::to_json(results)) << "\n";
  print_summary(results, results_path, junit_path, o.json, label);
  return results.passed() ? kOk : kDiverged;
}

CLI::App* add_check(CLI::App& parent, const char* name, const char* description, const std::string& footer,
                    const std::shared_ptr<VerifyOptions>& o) {
  CLI::App* app = parent.add_subcommand(name, description);
  app->footer(footer +
              "\nEvery run must reproduce the reference's token ids and the SHA-256 of every step's fp32 logits "
              "bit for bit.\nExit codes: 0 every run matches (and the golden file), 1 a run differs (or a "
              "worker failed), 2 bad input, 3 environment problem (model missing, output not writable).");
  app->add_option("--model", o->model, kModelHelp);
  auto* suite = app->add_option("--suite", o->suite, "Suite file (JSON, schema lockstep.suite/0), e.g. suites/ci-gate.json");
  auto* prompt = app->add_option("--prompt", o->prompts, "A prompt to check (repeatable; instead of --suite)");
  suite->excludes(prompt);
  app->add_option("--max-new-tokens", o->max_new_tokens,
                  fmt::format("Tokens per case (overrides the suite; default for --prompt: {})", kPromptMaxNewTokens));
  app->add_option("--out-dir", o->out_dir, "Directory for results.json and junit.xml")->capture_default_str();
  app->add_option("--junit", o->junit, "JUnit XML path (default: OUT_DIR/junit.xml)");
  app->add_option("--results", o->results, "Results JSON path (default: OUT_DIR/results.json)");
  app->add_option("--proof-out", o->proof_out,
                  "Where this run's proof (lockstep.proof/1) goes (default: OUT_DIR/proof.json; replaced on every run)");
  app->add_flag("--json", o->json, "Also print the results JSON on stdout");
  add_engine_options(app, o->mode, o->device, o->dtype);
  app->add_option("--golden", o->golden,
                  "Golden proof file (lockstep.proof/1) that every case must reproduce; e.g. "
                  "golden/smollm2-135m-instruct/cpu-x86_64.proof.json");
  app->add_flag("--update-golden", o->update_golden,
                "Write this run's proof to --golden (replacing it) instead of comparing; only if the run passes");
  app->add_option("--golden-level", o->golden_level,
                  "bits (tokens and every step's logits digest), tokens (output ids only) or canonical (tokens, "
                  "and every step's top candidates' logits within --golden-tolerance, rounded to 1/1024)")
      ->capture_default_str();
  app->add_option("--golden-tolerance", o->golden_tolerance,
                  "Largest logit difference the canonical level accepts (default 1/256)");
  app->add_flag("--create-golden-dir", o->create_golden_dir,
                "Let --update-golden create the golden file's missing folders (refused otherwise: a typo would "
                "make a new golden)");
  app->add_option("--case", o->case_ids, "Run only the case of this id (repeatable)");
  app->add_option("--tier", o->tiers, "Run only the cases of this tier, 1-8 (repeatable; the tiers benchmark)")
      ->check(CLI::Range(1, 8));
  add_endpoint_options(app, o->endpoint,
                       "Check an OpenAI-compatible server at this base URL (e.g. http://127.0.0.1:8000) instead of the "
                       "in-process engine: every run of every case is sent with --fillers concurrent requests and "
                       "compared at the best level the server allows (bits with lockstep serve)",
                       /*with_level=*/true);
  app->add_option("--fillers", o->fillers, "With --endpoint: seeded random requests sent beside every run")
      ->capture_default_str();
  o->check_name = name;
  return app;
}

void note_given_counts(CLI::App* app, VerifyOptions& o) {
  o.runs_set = app->get_option_no_throw("--runs") != nullptr && app->count("--runs") > 0;
  o.processes_set = app->get_option_no_throw("--processes") != nullptr && app->count("--processes") > 0;
}

void add_run_counts(CLI::App* app, VerifyOptions& o, bool runs, bool processes) {
  if (runs) app->add_option("--runs", o.runs, "In-process runs per case, the reference included")->capture_default_str();
  if (processes) {
    app->add_option("--processes", o.processes, "Fresh processes that each run every case once")->capture_default_str();
  }
}


Command add_verify_command(CLI::App& parent, const std::vector<std::string>& argv) {
  auto o = std::make_shared<VerifyOptions>();
  o->argv = argv;
  CLI::App* app = add_check(parent, "verify", "Check that generation is deterministic across runs, model reloads and processes.",
                            "Every case runs once alone as the reference (run-1), RUNS-1 more times in this process with "
                            "all cases batched together (the last of them on a freshly re-loaded model), in the "
                            "co-batched rounds of the suite's batch_plan (or --batch-sizes / --join-after: batches "
                            "of each size with seeded random greedy and sampling fillers, joins mid-decode each "
                            "way), and once alone in each of PROCESSES fresh processes. All runs go through the "
                            "batching engine; a planned round that did not happen fails the case.",
                            o);
  add_run_counts(app, *o, true, true);
  app->callback([app, o] { note_given_counts(app, *o); });
  app->add_option("--batch-sizes", o->batch_sizes,
                  "Co-batched rounds: each case in a batch of each of these sizes (>= 2) with seeded random "
                  "fillers; replaces the sizes of the suite's batch_plan")
      ->delimiter(',');
  app->add_option("--join-after", o->join_after,
                  "Join rounds: half the cases join a batch after it has decoded this many steps, others join "
                  "the other half (0: none; replaces the suite's join_after_steps)");
  app->add_option("--plan-repeats", o->plan_repeats,
                  "Run the co-batched rounds this many times, each with fillers of the next seed (labels batch-3, "
                  "batch-3.2, ...)")
      ->capture_default_str();
  app->add_option("--localise", o->localise,
                  "On a co-batched failure, re-run the first failing run of up to N cases solo and in its batch "
                  "with per-layer, per-op activation digests, and name the first divergent layer and op (0: off)")
      ->capture_default_str();
  app->add_flag("--no-batch-plan", o->no_batch_plan,
                "Skip the suite's co-batched rounds (results record no batch rounds; for checks of something "
                "else, such as a golden at another thread count)");
  app->add_option("--worker", o->worker, "internal: run as worker LABEL, print digests as JSON")->group("");
  return {app, [o] { return run_check(*o); }};
}

}  // namespace lockstep::cli

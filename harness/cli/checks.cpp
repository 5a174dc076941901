// `lockstep bench`, `reload`, `stress` and `suite`: verify's machinery
// (run_check in harness/cli/verify.cpp) with their own defaults, counts and
// phases, one row of a table each.
#include <algorithm>
#include <iostream>
#include <memory>

#include "core/error.h"
#include "harness/cli/check.h"
#include "harness/suite.h"

namespace lockstep::cli {
namespace {

// What each check command says about itself in --help.
struct CheckText {
  const char* kind;
  const char* description;
  const char* footer;
};

constexpr CheckText kChecks[] = {
    {"bench", "Run the eight-tier prompt benchmark and check that every tier reproduces.",
     "The tiers suite (1 sanity, 2 long output, 3 uncertain / creative, 4 complex code, "
     "5 reasoning, 6 deep context, 7 adversarial near-ties, 8 edge cases) runs like verify: a "
     "reference, RUNS-1 more runs (the last on a re-loaded model) and PROCESSES fresh processes; "
     "a table per tier (cases reproduced, tokens, tokens/s) follows."},
    {"reload", "Check that the bits survive model reloads and fresh processes.",
     "Every case runs once as the reference, then once after each of RELOADS fresh loads of the "
     "model in this process (the old weights freed first; the peak RSS is reported), then once "
     "in each of PROCESSES fresh processes."},
    {"stress", "Run many concurrent requests through one model; each must match.",
     "Every case runs once as the reference; then WORKERS requests (worker w runs case w mod "
     "the number of cases) run from THREADS threads at once through the one loaded model, and "
     "each is compared with its case's reference."},
    {"suite", "Run a suite file the way its \"check\" says (verify, reload, stress, bench).",
     "The suite's \"check\" object names the check and its counts (e.g. suites/stress.json: "
     "stress, 2000 workers on 8 threads); without one the suite is verified with verify's "
     "defaults."},
};

// A check's options before the command line: bench is verify with 2 runs and
// 1 process, stress runs no processes.
void apply_check_defaults(const std::string& kind, VerifyOptions& o) {
  if (kind == "reload") o.check = Check::reload;
  if (kind == "stress") {
    o.check = Check::stress;
    o.processes = 0;
  }
  if (kind == "bench") {
    o.runs = 2;
    o.processes = 1;
  }
}

// `suite`: the check and counts the suite file names, over the command line's options.
int run_suite(const VerifyOptions& o) {
  const harness::Suite suite = harness::load_suite(o.suite);   // bad_input names the field
  VerifyOptions run = o;
  const harness::SuiteCheck& c = suite.check;
  apply_check_defaults(c.kind, run);
  if (c.runs) run.runs = *c.runs;
  if (c.processes) run.processes = *c.processes;
  if (c.reloads) run.reloads = *c.reloads;
  if (c.workers) run.workers = *c.workers;
  if (c.threads) run.threads = *c.threads;
  std::cerr << "suite: " << suite.name << ": " << c.kind << "\n";
  return run_check(run);
}

}  // namespace

Command add_check_command(CLI::App& parent, const std::vector<std::string>& argv, const std::string& kind) {
  const CheckText* text =
      std::find_if(std::begin(kChecks), std::end(kChecks), [&](const CheckText& t) { return kind == t.kind; });
  if (text == std::end(kChecks)) throw std::logic_error("no check command " + kind);
  auto o = std::make_shared<VerifyOptions>();
  o->argv = argv;
  apply_check_defaults(kind, *o);
  CLI::App* app = add_check(parent, text->kind, text->description, text->footer, o);
  if (kind == "bench") {
    app->get_option("--suite")->description("Suite file (default: suites/tiers.json, the eight-tier benchmark)");
    add_run_counts(app, *o, true, true);
  } else if (kind == "reload") {
    app->add_option("--reloads", o->reloads, "Fresh loads of the model in this process")->capture_default_str();
    add_run_counts(app, *o, false, true);
  } else if (kind == "stress") {
    app->add_option("--workers", o->workers, "Concurrent requests in all")->capture_default_str();
    app->add_option("--threads", o->threads, "Threads that run them at once")->capture_default_str();
  } else {
    app->get_option("--suite")->required();
    return {app, [o] { return run_suite(*o); }};
  }
  return {app, [o] { return run_check(*o); }};
}

}  // namespace lockstep::cli

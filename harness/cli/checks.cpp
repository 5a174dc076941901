// `lockstep bench`, `reload` and `stress`: verify's machinery (run_check in
// harness/cli/verify.cpp) with their own suite, counts and phases.
#include <memory>

#include "harness/cli/check.h"

namespace lockstep::cli {

Command add_bench_command(CLI::App& parent, const std::vector<std::string>& argv) {
  auto o = std::make_shared<VerifyOptions>();
  o->argv = argv;
  o->suite = LOCKSTEP_SOURCE_DIR "/suites/tiers.json";
  o->runs = 2;
  o->processes = 1;
  CLI::App* app = add_check(parent, "bench", "Run the eight-tier prompt benchmark and check that every tier reproduces.",
                            "The tiers suite (1 sanity, 2 long output, 3 uncertain / creative, 4 complex code, "
                            "5 reasoning, 6 deep context, 7 adversarial near-ties, 8 edge cases) runs like verify: a "
                            "reference, RUNS-1 more runs (the last on a re-loaded model) and PROCESSES fresh processes; "
                            "a table per tier (cases reproduced, tokens, tokens/s) follows.",
                            o);
  app->get_option("--suite")->default_str(o->suite);
  add_run_counts(app, *o, true, true);
  return {app, [o] { return run_check(*o); }};
}

Command add_reload_command(CLI::App& parent, const std::vector<std::string>& argv) {
  auto o = std::make_shared<VerifyOptions>();
  o->argv = argv;
  o->check = Check::reload;
  CLI::App* app = add_check(parent, "reload", "Check that the bits survive model reloads and fresh processes.",
                            "Every case runs once as the reference, then once after each of RELOADS fresh loads of the "
                            "model in this process (the old weights freed first; the peak RSS is reported), then once "
                            "in each of PROCESSES fresh processes.",
                            o);
  app->add_option("--reloads", o->reloads, "Fresh loads of the model in this process")->capture_default_str();
  add_run_counts(app, *o, false, true);
  return {app, [o] { return run_check(*o); }};
}

Command add_stress_command(CLI::App& parent, const std::vector<std::string>& argv) {
  auto o = std::make_shared<VerifyOptions>();
  o->argv = argv;
  o->check = Check::stress;
  o->processes = 0;
  CLI::App* app = add_check(parent, "stress", "Run many concurrent requests through one model; each must match.",
                            "Every case runs once as the reference; then WORKERS requests (worker w runs case w mod "
                            "the number of cases) run from THREADS threads at once through the one loaded model, and "
                            "each is compared with its case's reference.",
                            o);
  app->add_option("--workers", o->workers, "Concurrent requests in all")->capture_default_str();
  app->add_option("--threads", o->threads, "Threads that run them at once")->capture_default_str();
  return {app, [o] { return run_check(*o); }};
}

}  // namespace lockstep::cli

// `lockstep sweep`: batch-size x prompt-length grid of a target request
// against its solo run (harness/runs/sweep.h), with the usual reports.
#include <sys/resource.h>

#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "harness/atomic_file.h"
#include "harness/cli/command.h"
#include "harness/cli/endpoint_options.h"
#include "harness/cli/exit_codes.h"
#include "harness/device_options.h"
#include "harness/endpoint/endpoint_sweep.h"
#include "harness/results/junit.h"
#include "harness/model_source.h"
#include "harness/paths.h"
#include "harness/results/results.h"
#include "harness/runs/sweep.h"
#include "kernels/mode.h"

namespace lockstep::cli {
namespace {

struct SweepOptions {
  std::string model;
  harness::SweepPlan plan;
  std::string mode = kDefaultMode;
  std::string device = "cpu";
  std::string dtype = "fp32";
  std::string out_dir = "lockstep-out";
  bool json = false;
  EndpointCli endpoint;
  std::vector<std::string> argv;
};

// --endpoint: the grid against a server; batch sizes become concurrency levels.
harness::VerifyResults sweep_endpoint(const SweepOptions& o, const harness::Progress& progress) {
  harness::EndpointSweepPlan p;
  p.endpoint = endpoint_options(o.endpoint);
  p.lengths = o.plan.lengths;
  p.concurrency = o.plan.batches;
  p.seed = o.plan.seed;
  p.max_tokens = o.plan.decode_tokens;
  p.level = o.endpoint.level_asked();
  return harness::run_endpoint_sweep(p, progress);
}

int sweep(SweepOptions& o) {
  const kernels::ModeGuard mode(mode_option(o.mode));
  const bool remote = o.endpoint.given();
  if (!remote) {
    harness::validate(o.plan);   // a bad grid fails before the model is loaded
    o.plan.load = harness::parse_load_options(o.device, o.dtype);
    o.plan.model_path = harness::resolve_model_path(o.model);
  }
  const std::string results_path = harness::join_path(o.out_dir, "results.json");
  const std::string junit_path = harness::join_path(o.out_dir, "junit.xml");
  harness::check_writable(results_path);
  harness::check_writable(junit_path);
  const harness::Progress progress = [](const std::string& line) { std::cerr << line << std::endl; };
  harness::VerifyResults results = remote ? sweep_endpoint(o, progress) : harness::run_sweep(o.plan, progress);
  results.command = o.argv;
  harness::write_results(results_path, results);
  harness::write_junit(junit_path, results);
  if (o.json) std::cout << harness::dump_json(harness::to_json(results)) << "\n";

  const harness::Counts counts = results.counts();
  if (remote) {
    std::cerr << fmt::format("sweep: {} ({}): {} of {} (concurrency, length) cells differ from the first level "
                             "({:.1f}s)\n", results.passed() ? "PASS" : "FAIL", results.environment.server,
                             counts.comparisons_failed, counts.comparisons, results.duration_s);
  } else {
    std::cerr << fmt::format("sweep: {} (mode {}): {} of {} (batch, length) cells differ from the solo run ({:.1f}s)\n",
                             results.passed() ? "PASS" : "FAIL", o.mode, counts.comparisons_failed, counts.comparisons,
                             results.duration_s);
  }
  // The grid, rows = lengths, columns = batch sizes (concurrency levels; the first is the reference).
  std::string header = remote ? "sweep:     words \\ conc." : "sweep:   length \\ batch";
  for (size_t k = remote ? 1 : 0; k < o.plan.batches.size(); ++k) header += fmt::format(" {:>4}", o.plan.batches[k]);
  std::ostream& table = table_stream(o.json);
  table << header << "\n";
  for (const harness::CaseResult& c : results.cases) {
    std::string row = fmt::format("sweep: {:>16}", c.id);
    for (const harness::RunResult& run : c.runs) row += fmt::format(" {:>4}", run.match ? "=" : "X");
    table << row << "\n";
  }
  std::cerr << "sweep: results: " << results_path << "\nsweep: junit: " << junit_path << "\n";
  return results.passed() ? kOk : kDiverged;
}

}  // namespace

Command add_sweep_command(CLI::App& parent, const std::vector<std::string>& argv) {
  const char* about = "Compute a target request alone and in batches of random co-batched requests; compare bits.";
  return options_command<SweepOptions>(parent, "sweep", about, sweep, [&](CLI::App* app, SweepOptions& o) {
    o.argv = argv;
    app->footer(
        "For every prompt length L a target of L random token ids (from --seed) runs alone, then inside a batch "
        "of B requests for every B (random fillers of the same length, the target at a random slot). The SHA-256 "
        "of its logits at every prompt position must equal the solo run's. With --mode off this shows where "
        "stock kernels drift. With --decode-tokens N (default 8) the target also generates N tokens through the "
        "batching engine, alone and submitted with B-1 random requests (random lengths and budgets, so its batch "
        "shrinks while it decodes): case decode-len-L, every token and step digest equal to the solo run's.\nExit codes: 0 every cell equal, 1 a cell differs, 2 bad input, 3 environment.");
    app->add_option("--model", o.model, kModelHelp);
    app->add_option("--lengths", o.plan.lengths, "Prompt lengths (tokens)")->delimiter(',')->capture_default_str();
    app->add_option("--batches", o.plan.batches, "Batch sizes")->delimiter(',')->capture_default_str();
    app->add_option("--seed", o.plan.seed, "Seed of the target and filler ids")->capture_default_str();
    app->add_option("--decode-tokens", o.plan.decode_tokens,
                    "Tokens the target also decodes through the batching engine per cell (0: prefill only)")
        ->capture_default_str();
    add_engine_options(app, o.mode, o.device, o.dtype);
    app->add_option("--out-dir", o.out_dir, "Directory for results.json and junit.xml")->capture_default_str();
    app->add_flag("--json", o.json, "Also print the results JSON on stdout");
    add_endpoint_options(app, o.endpoint,
                         "Sweep an OpenAI-compatible server at this base URL: --batches become concurrency levels (the "
                         "target with C-1 concurrent seeded requests), --lengths the target's length in random words, "
                         "--decode-tokens its max_tokens; every level compared with the first",
                         /*with_level=*/true);
  });
}

}  // namespace lockstep::cli

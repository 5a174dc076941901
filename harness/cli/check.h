// What `verify` and the checks built on it (bench, reload, stress) share:
// their options, the one function that runs any of them, and the common
// option set. harness/cli/verify.cpp implements it; checks.cpp registers the
// derived commands.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "harness/proofs/canonical.h"
#include "harness/cli/command.h"
#include "harness/cli/endpoint_options.h"

namespace lockstep::cli {

constexpr int64_t kPromptMaxNewTokens = 64;   // for --prompt cases without --max-new-tokens

enum class Check { verify, reload, stress };

struct VerifyOptions {
  Check check = Check::verify;
  int64_t reloads = 10;          // reload
  int64_t workers = 2000;        // stress
  int64_t threads = 8;           // stress
  std::string model;
  std::string suite;
  std::vector<std::string> prompts;
  int64_t runs = 3;
  int64_t processes = 2;
  std::optional<int64_t> max_new_tokens;   // unset: the suite's own
  std::string out_dir = "lockstep-out";
  std::string junit;
  std::string results;
  std::string proof_out;         // this run's proof (default OUT_DIR/proof.json)
  bool json = false;
  std::string mode = kDefaultMode;
  std::string device = "cpu";
  std::string dtype = "fp32";
  std::string golden;           // proof file to compare against (or to write with update_golden)
  bool update_golden = false;
  std::string golden_level = "bits";
  double golden_tolerance = harness::kDefaultCanonicalTolerance;
  std::vector<int64_t> batch_sizes;        // verify: co-batched sizes (replace the suite plan's)
  std::optional<int64_t> join_after;       // verify: join rounds after this many steps (0: none)
  int64_t plan_repeats = 1;                // verify: the rounds again with fillers of the next seeds
  int64_t localise = 3;                    // verify: co-batched failures re-run with activation digests
  bool no_batch_plan = false;              // verify: skip the suite's co-batched rounds
  bool create_golden_dir = false;          // --update-golden may create the golden's missing folders
  std::vector<std::string> case_ids;       // run only these cases (--case)
  std::vector<int64_t> tiers;              // run only these tiers (--tier)
  EndpointCli endpoint;                    // an OpenAI-compatible server instead of the in-process engine
  int64_t fillers = 8;                     // --endpoint: concurrent fillers beside every run
  bool runs_set = false, processes_set = false;   // given on the command line (else the suite's check)
  std::string check_name;       // the subcommand: verify, bench, reload, stress, suite
  std::string worker;           // hidden: the run label of a worker process
  std::vector<std::string> argv;
};

// Runs the check `o` describes; returns the exit code (kOk / kDiverged).
int run_check(const VerifyOptions& o);

// A subcommand with every shared option; the caller adds its own counts.
CLI::App* add_check(CLI::App& parent, const char* name, const char* description, const std::string& footer,
                    const std::shared_ptr<VerifyOptions>& o);

// --runs and --processes, as verify and bench have them.
void add_run_counts(CLI::App* app, VerifyOptions& o, bool runs, bool processes);
// Records in `o` whether --runs / --processes were given (then they win over the suite's check).
void note_given_counts(CLI::App* app, VerifyOptions& o);

}  // namespace lockstep::cli

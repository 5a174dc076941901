// What each subcommand file provides to main.cpp: it registers its options
// on the parent app and returns the function to call if it was chosen.
#pragma once

#include <functional>
#include <memory>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/error.h"
#include "harness/device_options.h"
#include "kernels/mode.h"

namespace lockstep::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;   // returns an exit code; throws lockstep::Error
};

Command add_run_command(CLI::App& parent);
Command add_verify_command(CLI::App& parent, const std::vector<std::string>& argv);
Command add_tokenize_command(CLI::App& parent);
Command add_proof_command(CLI::App& parent);
Command add_scan_command(CLI::App& parent);
Command add_compare_command(CLI::App& parent);
Command add_sweep_command(CLI::App& parent, const std::vector<std::string>& argv);
// bench, reload, stress and suite: verify's machinery with each one's defaults and counts.
Command add_check_command(CLI::App& parent, const std::vector<std::string>& argv, const std::string& kind);
Command add_report_command(CLI::App& parent);
Command add_throughput_command(CLI::App& parent);
Command add_session_command(CLI::App& parent);
Command add_info_command(CLI::App& parent);
Command add_chat_command(CLI::App& parent);
Command add_serve_command(CLI::App& parent);

// A subcommand whose options fill one Options object: `add_options` puts them on the app, and the
// Command runs `run` with them once the command line is parsed.
template <typename Options, typename Run, typename AddOptions>
Command options_command(CLI::App& parent, const char* name, const char* about, Run run, AddOptions add_options) {
  auto o = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand(name, about);
  add_options(app, *o);
  return {app, [o, run] { return run(*o); }};
}

// The output contract of every command: results (tables, or JSON with --json) on stdout, progress
// and diagnostics on stderr. With --json stdout holds the JSON alone, so tables go to stderr.
inline std::ostream& table_stream(bool json) { return json ? std::cerr : std::cout; }

// Shared --model option text.
inline constexpr const char* kModelHelp =
    "GGUF model file or Hugging Face model folder (default: $LOCKSTEP_MODEL, else the SmolLM2-135M-Instruct file installed by ci/setup.sh)";

// The kernels mode when --mode is not given: lockstep's invariant kernels.
inline constexpr const char* kDefaultMode = "batch_invariant";

// Shared --mode option text.
inline constexpr const char* kModeHelp =
    "Kernels: off (stock libtorch), batch_invariant (lockstep's kernels: a request's bits do not "
    "depend on the batch it runs in) or portable (fp32, one defined order and own math: the same bits "
    "on x86 CPUs and NVIDIA GPUs)";

// --mode, --device and --dtype of a command that loads a model into the engine.
inline void add_engine_options(CLI::App* app, std::string& mode, std::string& device, std::string& dtype) {
  app->add_option("--mode", mode, kModeHelp)->capture_default_str();
  app->add_option("--device", device, harness::kDeviceHelp)->capture_default_str();
  app->add_option("--dtype", dtype, harness::kDtypeHelp)->capture_default_str();
}

// A --mode value as the kernels' mode; an unknown name is bad input (exit 2).
inline kernels::Mode mode_option(const std::string& name) {
  try {
    return kernels::parse_mode(name);
  } catch (const std::invalid_argument& e) {
    throw bad_input(e.what());
  }
}

}  // namespace lockstep::cli

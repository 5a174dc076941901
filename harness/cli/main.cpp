// lockstep: makes LLM inference deterministic and proves it.
#include <cstdlib>
#include <exception>
#include <iostream>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "core/error.h"
#include "harness/cli/command.h"
#include "harness/cli/exit_codes.h"
#include "harness/env.h"
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault.h"
#endif

int main(int argc, char** argv) {
  using namespace lockstep;
  CLI::App app("lockstep: deterministic LLM inference, and the proof of it.\n"
               "Exit codes: 0 ok, 1 a run differed, 2 bad input or usage, 3 environment problem.",
               "lockstep");
  app.set_version_flag("--version", std::string("lockstep ") + harness::lockstep_version() + " (libtorch " +
                                        harness::libtorch_version() + ")");
  app.require_subcommand(1);
  app.fallthrough(false);

  const std::vector<std::string> args(argv, argv + argc);
  const cli::Command commands[] = {cli::add_run_command(app), cli::add_verify_command(app, args),
                                   cli::add_tokenize_command(app), cli::add_proof_command(app),
                                   cli::add_check_command(app, args, "reload"),
                                   cli::add_check_command(app, args, "stress"), cli::add_sweep_command(app, args),
                                   cli::add_check_command(app, args, "bench"), cli::add_scan_command(app),
                                   cli::add_compare_command(app), cli::add_check_command(app, args, "suite"),
                                   cli::add_report_command(app), cli::add_throughput_command(app),
                                   cli::add_session_command(app), cli::add_info_command(app),
                                   cli::add_chat_command(app), cli::add_serve_command(app)};
  // An unknown first word is named, whatever follows it (`lockstep nosuch --help` too).
  std::string names;
  bool known = false;
  for (const cli::Command& command : commands) {
    names += (names.empty() ? "" : ", ") + command.app->get_name();
    known = known || (argc > 1 && command.app->get_name() == argv[1]);
  }
  if (argc > 1 && argv[1][0] != '-' && !known) {
    std::cerr << "lockstep: unknown command '" << argv[1] << "' (commands: " << names << "); see lockstep --help\n";
    return cli::kBadInput;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli::exit_code_for_parse(app.exit(e));
  }
  try {
    // The test-only fault injector (kernels/fault/fault.h) lives in the lockstep_fault binary only.
#ifdef LOCKSTEP_FAULT_INJECTION
    try {
      if (const auto& fault = kernels::fault::active(); fault.kind != kernels::fault::Kind::none) {
        std::cerr << "lockstep: TEST-ONLY fault injection active: " << kernels::fault::describe(fault) << "\n";
      }
    } catch (const std::invalid_argument& e) {
      throw bad_input(e.what());
    }
#else
    if (const char* fault = std::getenv("LOCKSTEP_INJECT_FAULT"); fault != nullptr && *fault != '\0') {
      throw bad_input(std::string("LOCKSTEP_INJECT_FAULT=") + fault +
                      " is set, but this binary has no fault injector (a test-only build: configure with "
                      "-DLOCKSTEP_FAULT_INJECTION=ON and run the lockstep_fault binary, see ci/detect.sh)");
    }
#endif
    for (const cli::Command& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return cli::kBadInput;
  } catch (const Error& e) {
    std::cerr << "lockstep: error: " << e.what() << "\n";
    return cli::exit_code_for(e.kind());
  } catch (const std::exception& e) {
    std::cerr << "lockstep: internal error: " << e.what() << "\n";
    return cli::kInternal;
  }
}

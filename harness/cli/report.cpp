// `lockstep report`: JUnit XML, a self-contained HTML report and a Markdown summary from
// results.json / compare.json files. The HTML and Markdown renderer is the Python package
// reports/ (Jinja2); this is the only command that runs Python, and it only starts it: the
// JUnit XML comes from the harness's one writer (harness/results/junit.h), as verify's does.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

#include "core/error.h"
#include "harness/cli/command.h"
#include "harness/cli/exit_codes.h"
#include "harness/paths.h"
#include "harness/results/junit.h"

extern char** environ;

namespace lockstep::cli {
namespace {

// The venv's Python that CMake configured with (-DLOCKSTEP_PYTHON=...).
#ifndef LOCKSTEP_PYTHON
#define LOCKSTEP_PYTHON ""
#endif

struct ReportOptions {
  std::vector<std::string> inputs, results, compares;
  std::string out_dir = "lockstep-out";
  std::string junit, html, markdown, title, python;
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

// --python, else $LOCKSTEP_PYTHON, else the build's venv Python.
std::string python_path(const std::string& flag) {
  const std::string from_env = env_or("LOCKSTEP_PYTHON", "");
  const std::string path = !flag.empty() ? flag : !from_env.empty() ? from_env : LOCKSTEP_PYTHON;
  const std::string from = !flag.empty() ? "--python" : !from_env.empty() ? "$LOCKSTEP_PYTHON" : "the build's LOCKSTEP_PYTHON";
  if (path.empty() || access(path.c_str(), X_OK) != 0) {
    throw environment_error("no Python at '" + path + "' (" + from +
                            "): the report renderer needs Python with Jinja2; run ci/setup.sh or set LOCKSTEP_PYTHON");
  }
  return path;
}

// The folder holding the reports/ package: $LOCKSTEP_REPORTS_ROOT, else this source tree.
std::string reports_root() {
  const std::string root = env_or("LOCKSTEP_REPORTS_ROOT", LOCKSTEP_SOURCE_DIR);
  if (!harness::is_regular_file(harness::join_path(root, "reports/__main__.py"))) {
    throw environment_error("the report renderer is not at " + harness::join_path(root, "reports/") +
                            " (set LOCKSTEP_REPORTS_ROOT to the lockstep source tree)");
  }
  return root;
}

int render(const ReportOptions& o) {
  if (o.inputs.empty() && o.results.empty() && o.compares.empty()) {
    throw bad_input("give at least one results.json or compare.json (FILE..., --results or --compare)");
  }
  const std::string python = python_path(o.python);
  const std::string root = reports_root();
  std::vector<std::string> args = {python, "-m", "reports", "--out-dir", o.out_dir};
  for (const std::string& f : o.results) args.insert(args.end(), {"--results", f});
  for (const std::string& f : o.compares) args.insert(args.end(), {"--compare", f});
  const std::pair<const char*, const std::string*> paths[] = {
      {"--html", &o.html}, {"--markdown", &o.markdown}, {"--title", &o.title}};
  for (const auto& [flag, value] : paths) {
    if (!value->empty()) args.insert(args.end(), {flag, *value});
  }
  args.push_back("--");
  args.insert(args.end(), o.inputs.begin(), o.inputs.end());

  const std::string old_path = env_or("PYTHONPATH", "");
  setenv("PYTHONPATH", (old_path.empty() ? root : root + ":" + old_path).c_str(), 1);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  std::cout.flush();
  if (const int rc = posix_spawn(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ); rc != 0) {
    throw environment_error("cannot start " + python + ": " + std::strerror(rc));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw environment_error(std::string("waiting for the report renderer: ") + std::strerror(errno));
  }
  if (!WIFEXITED(status)) {
    std::cerr << "lockstep: internal error: the report renderer was killed by signal " << WTERMSIG(status) << "\n";
    return kInternal;
  }
  const int code = WEXITSTATUS(status);
  if (code != kOk && code != kBadInput && code != kEnvironment) {
    std::cerr << "lockstep: internal error: the report renderer (" << python << " -m reports) exited with code "
              << code << "\n";
    return kInternal;
  }
  if (code != kOk) return code;
  // The renderer has checked every file; the JUnit XML goes beside its reports.
  std::vector<std::string> results = o.inputs;
  results.insert(results.end(), o.results.begin(), o.results.end());
  const std::string junit = o.junit.empty() ? harness::join_path(o.out_dir, "report-junit.xml") : o.junit;
  harness::write_junit(junit, harness::read_junit_inputs(results, o.compares));
  std::cout << "report: junit: " << junit << std::endl;
  return kOk;
}

}  // namespace

Command add_report_command(CLI::App& parent) {
  const char* about =
      "Render results.json / compare.json as JUnit XML, a self-contained HTML report and a Markdown summary.";
  return options_command<ReportOptions>(parent, "report", about, render, [](CLI::App* app, ReportOptions& o) {
    app->add_option("files", o.inputs, "results.json or compare.json files (told apart by their schema)");
    app->add_option("--results", o.results, "A results.json (repeatable)");
    app->add_option("--compare", o.compares, "A compare.json from lockstep compare (repeatable)");
    app->add_option("--out-dir", o.out_dir, "Directory for the reports")->capture_default_str();
    app->add_option("--junit", o.junit, "JUnit XML path (default: OUT_DIR/report-junit.xml)");
    app->add_option("--html", o.html, "HTML report path (default: OUT_DIR/report.html)");
    app->add_option("--markdown", o.markdown, "Markdown summary path (default: OUT_DIR/summary.md)");
    app->add_option("--title", o.title, "Report title");
    app->add_option("--python", o.python, "Python with Jinja2 (default: $LOCKSTEP_PYTHON, else the build's venv)");
    app->footer(
        "The HTML and Markdown renderer is the Python package reports/ of the lockstep source tree "
        "($LOCKSTEP_REPORTS_ROOT overrides); the JUnit XML is the harness's own, as verify's. No other lockstep command "
        "needs Python.\n"
        "Exit codes: 0 reports written (whatever the verdict), 2 bad input (missing or malformed file), "
        "3 environment problem (Python or Jinja2 missing, output not writable).");
  });
}

}  // namespace lockstep::cli

// `lockstep session trace | replay | diff`: multi-turn chats with tool-call
// steps, recorded bit for bit (lockstep.trace/1) and checked again.
#include <functional>
#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/engine/model_bundle.h"
#include "core/error.h"
#include "harness/atomic_file.h"
#include "harness/runs/case_runner.h"
#include "harness/cli/command.h"
#include "harness/cli/session_load.h"
#include "harness/cli/exit_codes.h"
#include "harness/device_options.h"
#include "harness/env.h"
#include "harness/runs/fault_hook.h"
#include "harness/model_source.h"
#include "harness/paths.h"
#include "harness/proofs/proof.h"
#include "harness/results/results.h"
#include "harness/sessions/session_runner.h"
#include "harness/sessions/session_trace.h"
#include "kernels/mode.h"

namespace lockstep::cli {
namespace {

using json = nlohmann::ordered_json;

struct SessionOptions {
  std::string script, out, model, trace, expected, actual;
  std::string mode = kDefaultMode;
  std::string device = "cpu";
  std::string dtype = "fp32";
  bool force = false;
  bool json = false;
};

void progress_line(const std::string& command, const harness::TraceTurn& t, size_t steps, double seconds) {
  std::string what = t.type;
  if (t.type == "generate") {
    what += fmt::format(": {} tokens ({}), {:.2f} s", t.record.output_ids.size(), t.record.stop_reason, seconds);
    if (!t.tool_calls.empty()) what += fmt::format(", {} tool call(s)", t.tool_calls.size());
  } else if (t.type == "tool_call") {
    what += ": " + t.tool_calls.front().name;
  } else if (t.type == "tool_result") {
    what += fmt::format(": {} answer(s)", t.answers.size());
  }
  if (!t.error.empty()) what += ": ERROR " + t.error;
  std::cerr << fmt::format("session {}: turn {} ({} of {}) {}\n", command, t.step, t.step + 1, steps, what);
}

}  // namespace

Loaded load_for_session(const std::string& command, const std::string& model, const std::string& device,
                        const std::string& dtype, const std::function<void(const Loaded&)>& check) {
  const LoadOptions options = harness::parse_load_options(device, dtype);
  Loaded l;
  l.path = harness::resolve_model_path(model);
  l.environment = harness::collect_environment();
  harness::describe_device(l.environment, options);
  l.sha256 = model_sha256(l.path);
  if (check) check(l);
  std::cerr << "session " << command << ": loading model " << l.path << "\n";
  l.bundle = ModelBundle::load(l.path, options);
  return l;
}

namespace {

harness::SessionRunOptions run_options(const std::string& label) {
  harness::SessionRunOptions r;
  r.run_label = label;
  r.fault = harness::fault_from_environment();
  if (r.fault) std::cerr << "session " << label << ": TEST-ONLY fault injection active: " << harness::describe(*r.fault) << "\n";
  r.progress = [label](const harness::TraceTurn& t, size_t steps, double s) { progress_line(label, t, steps, s); };
  return r;
}

int trace(const SessionOptions& o) {
  const harness::SessionScript script = harness::read_session(o.script);   // bad scripts fail before the model loads
  if (!o.force && harness::is_regular_file(o.out)) throw bad_input(o.out + " exists; it is replaced only with --force");
  harness::check_writable(o.out);
  const kernels::ModeGuard mode(mode_option(o.mode));
  const Loaded l = load_for_session("trace", o.model, o.device, o.dtype);
  harness::Trace t;
  t.created_at = harness::utc_timestamp_now();
  t.model_name = l.bundle->name;
  t.model_sha256 = l.sha256;
  t.environment = l.environment;
  t.script = script.document;
  t.turns = harness::run_session(*l.bundle, script, run_options("trace"));
  harness::write_trace(o.out, t, o.force);
  const harness::TraceTurn& last = t.turns.back();
  int64_t tokens = 0;
  for (const harness::TraceTurn& turn : t.turns) tokens += static_cast<int64_t>(turn.record.output_ids.size());
  if (o.json) {
    std::cout << harness::dump_json(json{{"trace", o.out},
                                         {"script", script.name},
                                         {"turns", t.turns.size()},
                                         {"generated_tokens", tokens},
                                         {"digest", harness::trace_to_json(t)["digest"]["value"]},
                                         {"error", last.error.empty() ? json(nullptr) : json(last.error)}})
              << "\n";
  }
  std::cerr << fmt::format("session trace: wrote {}: '{}', {} steps, {} generated tokens\n", o.out, script.name,
                           t.turns.size(), tokens);
  if (!last.error.empty()) {
    throw bad_input(fmt::format("session '{}' stopped at step {} ({}): {} (the trace records it)", script.name,
                                last.step, last.type, last.error));
  }
  return kOk;
}

void report(const std::string& command, const std::string& expected, const std::string& actual,
            const std::optional<harness::TurnDivergence>& d, size_t turns, bool as_json) {
  if (as_json) {
    json out{{"expected", expected}, {"actual", actual}, {"verdict", d ? "differ" : "same"}, {"turns", turns}};
    if (d) {
      json div;
      harness::to_json(div, *d);
      out["first_divergence"] = std::move(div);
    }
    std::cout << harness::dump_json(out) << "\n";
  }
  if (d) {
    std::cerr << "session " << command << ": first divergence: " << harness::describe(*d) << "\n";
  } else {
    std::cerr << fmt::format("session {}: all {} turns identical, bit for bit\n", command, turns);
  }
}

int replay(const SessionOptions& o) {
  const harness::Trace expected = harness::read_trace(o.trace);
  const harness::SessionScript script = harness::session_from_json(expected.script, o.trace + ": script");
  const std::string mode_name = o.mode.empty() ? expected.environment.mode : o.mode;
  const std::string device = o.device.empty() ? expected.environment.device : o.device;
  const std::string dtype = o.dtype.empty() ? expected.environment.dtype : o.dtype;
  const kernels::ModeGuard mode(mode_option(mode_name));
  Loaded l = load_for_session("replay", o.model, device, dtype, [&](const Loaded& here) {
    if (here.sha256 != expected.model_sha256) {
      throw bad_input(fmt::format("{} was traced with model {} (sha256 {}…); {} is another model (sha256 {}…): use --model",
                                  o.trace, expected.model_name, expected.model_sha256.substr(0, 16), here.path,
                                  here.sha256.substr(0, 16)));
    }
    harness::Environment env = here.environment;
    env.mode = mode_name;
    if (const std::string why = harness::incomparable_reason(expected.environment, env); !why.empty()) {
      throw bad_input(o.trace + " cannot be replayed bit for bit here: " + why);
    }
  });
  l.environment.mode = mode_name;
  harness::Trace actual = expected;
  actual.environment = l.environment;
  actual.turns = harness::run_session(*l.bundle, script, run_options("replay"));
  std::optional<harness::TurnDivergence> d = harness::first_turn_divergence(expected, actual);
  if (d && d->divergence) harness::name_tokens(*l.bundle, *d->divergence);
  if (d && d->divergence) d->what = harness::describe(*d->divergence);
  report("replay", o.trace, "(this replay)", d, actual.turns.size(), o.json);
  return d ? kDiverged : kOk;
}

int diff(const SessionOptions& o) {
  const harness::Trace a = harness::read_trace(o.expected);
  const harness::Trace b = harness::read_trace(o.actual);
  const std::optional<harness::TurnDivergence> d = harness::first_turn_divergence(a, b);
  report("diff", o.expected, o.actual, d, std::max(a.turns.size(), b.turns.size()), o.json);
  return d ? kDiverged : kOk;
}

}  // namespace

Command add_session_command(CLI::App& parent) {
  auto o = std::make_shared<SessionOptions>();
  CLI::App* app = parent.add_subcommand(
      "session", "Multi-turn chats with tool-call steps: trace one, replay it, compare two traces.");
  app->require_subcommand(1);

  CLI::App* tracer = app->add_subcommand(
      "trace", "Run a session script (lockstep.session/0) and write its trace (lockstep.trace/1).");
  tracer->add_option("--script", o->script, "Session script (JSON, lockstep.session/0; see suites/README.md)")->required();
  tracer->add_option("--out", o->out, "Trace file to write (atomically)")->required();
  tracer->add_flag("--force", o->force, "Replace an existing --out file");
  tracer->add_option("--model", o->model, kModelHelp);
  add_engine_options(tracer, o->mode, o->device, o->dtype);
  tracer->add_flag("--json", o->json, "Print a summary as JSON on stdout (trace path, turns, tokens, digest)");
  tracer->footer("Progress goes to stderr, one line per step.\n"
                 "Exit codes: 0 written; 2 bad input (invalid script, a tool call with no canned answer: the trace "
                 "is still written and names the step), 3 environment (model missing, output not writable).");

  auto r = std::make_shared<SessionOptions>();
  r->mode = r->device = r->dtype = "";
  CLI::App* replayer = app->add_subcommand(
      "replay", "Run a trace's embedded script again here and compare every turn with the trace, bit for bit.");
  replayer->add_option("trace", r->trace, "Trace file (lockstep.trace/1)")->required();
  replayer->add_option("--model", r->model, std::string(kModelHelp) + "; must be the traced model");
  replayer->add_option("--mode", r->mode, "Kernels mode (default: the trace's)");
  replayer->add_option("--device", r->device, "Where the model runs (default: the trace's)");
  replayer->add_option("--dtype", r->dtype, "fp32 or bf16 (default: the trace's)");
  replayer->add_flag("--json", r->json, "Print the verdict (and the first divergence) as JSON on stdout");
  replayer->footer("On a mismatch, names the first divergent turn, step and token, with both sides' top "
                   "candidates and their ULP distance.\n"
                   "Exit codes: 0 identical; 1 a turn differs; 2 bad input (tampered, truncated or invalid trace, "
                   "another model, a mode/device/dtype it cannot be compared in); 3 environment.");

  CLI::App* differ = app->add_subcommand("diff", "Compare two traces of the same script and model, without running the model.");
  differ->add_option("expected", o->expected, "The reference trace")->required();
  differ->add_option("actual", o->actual, "The trace to compare with it")->required();
  differ->add_flag("--json", o->json, "Print the verdict (and the first divergence) as JSON on stdout");
  differ->footer("Exit codes: 0 identical; 1 a turn differs; 2 bad input (invalid or tampered trace, different "
                 "models or scripts).");
  return {app, [o, r, tracer, replayer] {
            if (tracer->parsed()) return trace(*o);
            if (replayer->parsed()) return replay(*r);
            return diff(*o);
          }};
}

}  // namespace lockstep::cli

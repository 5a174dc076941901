// `lockstep run`: one prompt, one generation, the answer (or its JSON record).
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <iostream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/engine/generate.h"
#include "core/engine/model_bundle.h"
#include "core/error.h"
#include "harness/atomic_file.h"
#include "harness/runs/case_runner.h"
#include "harness/device_options.h"
#include "harness/cli/command.h"
#include "harness/cli/exit_codes.h"
#include "harness/cli/sampling_options.h"
#include "harness/model_source.h"
#include "harness/results/npy.h"
#include "harness/results/results.h"
#include "harness/runs/run_record.h"
#include "kernels/mode.h"

namespace lockstep::cli {
namespace {

struct RunOptions {
  std::string prompt;
  std::string prompt_file;   // "-": standard input
  bool prompt_given = false;
  std::string model;
  bool raw = false;
  int64_t max_new_tokens = 128;
  SamplingOptions sampling;
  bool json = false;
  std::string dump_logits;
  std::string mode = kDefaultMode;
  std::vector<std::string> stops;
  std::string device = "cpu";
  std::string dtype = "fp32";
};

// Collects every step's logits (after any other observer, i.e. exactly the
// bytes that are hashed) as rows of a [steps, vocab] matrix.
struct LogitsDump {
  std::vector<float> values;
  int64_t steps = 0;
  int64_t vocab = 0;

  StepObserver observer() {
    return [this](int64_t, at::Tensor& logits) {
      const at::Tensor row = logits.contiguous();
      vocab = row.numel();
      const float* data = row.data_ptr<float>();
      values.insert(values.end(), data, data + vocab);
      ++steps;
    };
  }
};

// The prompt of --prompt, or the whole text of --prompt-file (a file, or "-" for standard input:
// a long document does not fit the shell's argument limit).
std::string read_prompt(const RunOptions& o) {
  if (o.prompt_file.empty()) return o.prompt;
  std::ostringstream text;
  if (o.prompt_file == "-") {
    text << std::cin.rdbuf();
    if (std::cin.bad()) throw environment_error("--prompt-file -: cannot read standard input");
    return text.str();
  }
  std::ifstream in(o.prompt_file, std::ios::binary);
  if (!in) throw bad_input("--prompt-file " + o.prompt_file + ": cannot open the file");
  text << in.rdbuf();
  if (in.bad()) throw environment_error("--prompt-file " + o.prompt_file + ": cannot read the file");
  return text.str();
}

int run(const RunOptions& given) {
  RunOptions o = given;
  if (o.prompt_given == !o.prompt_file.empty()) {
    throw bad_input(o.prompt_given ? "give --prompt or --prompt-file, not both"
                                   : "give --prompt TEXT or --prompt-file FILE (- for standard input)");
  }
  o.prompt = read_prompt(o);
  if (o.raw && o.prompt.empty()) throw bad_input("the prompt is empty (a raw prompt needs at least one character)");
  const kernels::ModeGuard mode(mode_option(o.mode));
  const SamplingOptions& sampling = o.sampling;
  GenerateOptions check;
  check.max_new_tokens = o.max_new_tokens;
  check.sampling = sampling;
  for (const std::string& stop : o.stops) {
    if (stop.empty()) throw bad_input("--stop must not be empty");
  }
  validate(check);   // bad flags fail before the model is loaded

  const LoadOptions load = harness::parse_load_options(o.device, o.dtype);
  const std::string model_path = harness::resolve_model_path(o.model);
  if (!o.dump_logits.empty()) harness::check_writable(o.dump_logits);
  const auto load_start = std::chrono::steady_clock::now();
  const std::shared_ptr<const ModelBundle> bundle = ModelBundle::load(model_path, load);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  GenerateOptions options = harness::generate_options_for(*bundle, o.max_new_tokens, sampling);
  options.stop_strings = o.stops;
  const std::vector<int32_t> prompt_ids = bundle->prompt_ids(o.prompt, o.raw);
  LogitsDump dump;
  const harness::TimedGeneration timed = harness::generate_timed(
      *bundle, prompt_ids, options, o.dump_logits.empty() ? StepObserver{} : dump.observer());
  const Generation& g = timed.generation;
  if (!o.dump_logits.empty()) harness::write_npy_f32(o.dump_logits, {dump.steps, dump.vocab}, dump.values);

  const std::string text = harness::answer_text(*bundle, g);
  if (!o.json) {
    std::cout << text << "\n";
    return kOk;
  }
  const double tokens_per_s = timed.duration_s > 0 ? static_cast<double>(g.output_ids.size()) / timed.duration_s : 0.0;
  const nlohmann::ordered_json out = {
      {"model", {{"path", model_path}, {"name", bundle->name}}},
      {"prompt", o.prompt},
      {"raw", o.raw},
      {"prompt_ids", g.prompt_ids},
      {"output_ids", g.output_ids},
      {"text", text},
      {"step_logits_sha256", g.step_logits_sha256},
      {"ids_sha256", harness::ids_sha256(g.output_ids)},
      {"stop_reason", g.stop_reason},
      {"timings", {{"load_s", load_s}, {"generate_s", timed.duration_s}, {"tokens_per_s", tokens_per_s}}}};
  std::cout << harness::dump_json(out) << "\n";
  return kOk;
}

}  // namespace

Command add_run_command(CLI::App& parent) {
  const char* about = "Generate an answer to one prompt (greedy unless --temperature > 0 with --seed).";
  return options_command<RunOptions>(parent, "run", about, run, [](CLI::App* app, RunOptions& o) {
    app->add_option("--prompt", o.prompt, "The user message (chat-formatted unless --raw)");
    app->add_option("--prompt-file", o.prompt_file,
                    "Read the prompt from this file (- for standard input), for prompts too long for the command line");
    app->add_option("--model", o.model, kModelHelp);
    app->add_flag("--raw", o.raw, "Tokenize the prompt as is, without the chat template");
    app->add_option("--max-new-tokens", o.max_new_tokens, "Most tokens to generate")->capture_default_str();
    add_sampling_options(app, &o.sampling);
    app->add_option("--stop", o.stops, "Stop once the answer contains this text (repeatable; the token that "
                                        "completes it is kept)");
    app->add_flag("--json", o.json,
                  "Print a JSON record: ids, text, per-step logits SHA-256, ids SHA-256, stop reason, timings");
    app->add_option("--dump-logits", o.dump_logits,
                    "Write every step's fp32 logits to this .npy file, shape [steps, vocab]");
    add_engine_options(app, o.mode, o.device, o.dtype);
    app->callback([app, &o] { o.prompt_given = app->count("--prompt") > 0; });
  });
}

}  // namespace lockstep::cli

// `lockstep throughput`: tokens per second of the batching engine, for each
// batch size, with B requests submitted at once (distinct prompts) and every
// one generating exactly --new-tokens tokens (EOS ignored). One warm-up batch
// first. Timings only: the determinism checks are elsewhere.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/engine/engine.h"
#include "core/engine/model_bundle.h"
#include "core/error.h"
#include "harness/cli/command.h"
#include "harness/cli/exit_codes.h"
#include "harness/cli/sampling_options.h"
#include "harness/device_options.h"
#include "harness/results/kineto_trace.h"
#include "harness/model_source.h"
#include "harness/results/results.h"

namespace lockstep::cli {
namespace {

struct ThroughputOptions {
  std::string model;
  std::string device = "cpu";
  std::string dtype = "fp32";
  std::string mode = kDefaultMode;
  std::vector<int64_t> batches{1, 8};
  int64_t new_tokens = 32;
  int64_t prompt_tokens = 32;
  int64_t repeats = 1;
  double kv_cache_gb = 0;
  int64_t digest_threads = -1;
  bool no_digests = false;
  bool no_pipeline = false;
  bool no_graphs = false;
  SamplingOptions sampling;   // request i samples with stream i
  std::string profile;
  bool json = false;
};

struct Timing {
  int64_t batch = 0;
  double seconds = 0;
  int64_t tokens = 0;
};

Timing time_batch(const std::shared_ptr<const DecoderModel>& model, int64_t batch, const ThroughputOptions& o,
                  std::mt19937& rng) {
  EngineOptions eo;
  eo.max_batch = batch;
  eo.max_prefill_tokens = 1 << 30;
  eo.mode = mode_option(o.mode);
  eo.kv_cache_bytes = static_cast<int64_t>(o.kv_cache_gb * double(int64_t{1} << 30));
  eo.digest_threads = o.digest_threads;
  eo.digests = !o.no_digests;
  eo.pipeline = !o.no_pipeline;
  eo.cuda_graphs = !o.no_graphs;
  Engine engine(model, {}, eo);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(model->config().vocab) - 1);
  GenerateOptions options;
  options.max_new_tokens = o.new_tokens;
  options.stop_at_eos = false;
  options.sampling = o.sampling;
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(batch));
  for (auto& p : prompts) {
    p.resize(static_cast<size_t>(o.prompt_tokens));
    for (auto& x : p) x = id(rng);
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<Generation>> futures;
  for (auto& p : prompts) {
    futures.push_back(engine.submit(p, options));
    ++options.sampling.stream;
  }
  int64_t tokens = 0;
  for (auto& f : futures) tokens += static_cast<int64_t>(f.get().output_ids.size());
  return {batch, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), tokens};
}

int run(const ThroughputOptions& o) {
  const kernels::Mode mode = mode_option(o.mode);
  const LoadOptions load = harness::parse_load_options(o.device, o.dtype);
  for (int64_t b : o.batches) {
    if (b < 1 || b > 4096) throw bad_input("--batches: each batch size must be in 1..4096");
  }
  if (!(o.kv_cache_gb >= 0) || o.digest_threads < -1) {
    throw bad_input("--kv-cache-gb must be >= 0 and --digest-threads >= -1");
  }
  if (o.new_tokens < 1 || o.prompt_tokens < 1 || o.repeats < 1) {
    throw bad_input("--new-tokens, --prompt-tokens and --repeats must be at least 1");
  }
  GenerateOptions check;
  check.sampling = o.sampling;
  validate(check);
  const std::string choice = o.sampling.temperature == 0.0
                                 ? "greedy"
                                 : fmt::format("sampled (temperature {}, top_k {}, top_p {}, seed {})", o.sampling.temperature,
                                               o.sampling.top_k, o.sampling.top_p, *o.sampling.seed);
  if (!o.profile.empty()) {
    const std::filesystem::path parent = std::filesystem::absolute(o.profile).parent_path();
    if (!std::filesystem::is_directory(parent)) {
      throw environment_error("--profile: the folder " + parent.string() + " does not exist");
    }
  }
  const std::string path = harness::resolve_model_path(o.model);
  const std::shared_ptr<const ModelBundle> bundle = ModelBundle::load(path, load);
  const auto model = std::shared_ptr<const DecoderModel>(bundle, &bundle->model);
  if (o.prompt_tokens + o.new_tokens > model->config().context) throw bad_input("prompt + new tokens exceed the context");
  std::mt19937 rng(1);
  std::cerr << "throughput: warm-up\n";
  time_batch(model, o.batches.front(), o, rng);
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  if (!o.json) {
    std::cout << fmt::format("{} on {} ({}), mode {}, prompt {} tokens, {} new tokens per request, {}\n", bundle->name,
                             o.device, harness::dtype_name(load.dtype), kernels::mode_name(mode), o.prompt_tokens,
                             o.new_tokens, choice);
    std::cout << fmt::format("{:>6} {:>10} {:>12} {:>16}\n", "batch", "seconds", "tokens/s", "tokens/s/request");
  }
  for (int64_t b : o.batches) {
    Timing best{b, 1e300, 0};
    for (int64_t r = 0; r < o.repeats; ++r) {
      std::cerr << "throughput: batch " << b << " run " << (r + 1) << "/" << o.repeats << "\n";
      // The last batch size's last run is the one profiled (its time still counts).
      std::unique_ptr<harness::KinetoTrace> trace;
      if (!o.profile.empty() && b == o.batches.back() && r + 1 == o.repeats) {
        trace = std::make_unique<harness::KinetoTrace>(o.profile, load.device.is_cuda());
      }
      const Timing t = time_batch(model, b, o, rng);
      if (trace) {
        trace->save();
        if (!std::filesystem::exists(o.profile)) throw environment_error("--profile: the trace could not be written to " + o.profile);
      }
      if (t.seconds < best.seconds) best = t;
    }
    const double tps = static_cast<double>(best.tokens) / best.seconds;
    if (!o.json) {
      std::cout << fmt::format("{:>6} {:>10.3f} {:>12.1f} {:>16.1f}\n", b, best.seconds, tps, tps / static_cast<double>(b));
    }
    rows.push_back({{"batch", b}, {"seconds", best.seconds}, {"tokens", best.tokens}, {"tokens_per_s", tps}});
  }
  if (o.json) {
    const nlohmann::ordered_json out = {{"model", {{"path", path}, {"name", bundle->name}}},
                                        {"device", o.device},
                                        {"dtype", harness::dtype_name(load.dtype)},
                                        {"mode", kernels::mode_name(mode)},
                                        {"prompt_tokens", o.prompt_tokens},
                                        {"new_tokens", o.new_tokens},
                                        {"digests", !o.no_digests},
                                        {"pipeline", !o.no_pipeline},
                                        {"cuda_graphs", !o.no_graphs},
                                        {"choice", choice},
                                        {"results", rows}};
    std::cout << harness::dump_json(out) << "\n";
  }
  return kOk;
}

}  // namespace

Command add_throughput_command(CLI::App& parent) {
  const char* about = "Tokens per second of the batching engine for each batch size (B requests at once).";
  using Options = ThroughputOptions;
  return options_command<Options>(parent, "throughput", about, run, [](CLI::App* app, Options& o) {
    app->add_option("--model", o.model, kModelHelp);
    add_engine_options(app, o.mode, o.device, o.dtype);
    app->add_option("--batches", o.batches, "Batch sizes, comma separated")->delimiter(',')->capture_default_str();
    app->add_option("--new-tokens", o.new_tokens, "Tokens each request generates")->capture_default_str();
    app->add_option("--prompt-tokens", o.prompt_tokens, "Prompt length (random token ids)")->capture_default_str();
    app->add_option("--repeats", o.repeats, "Runs per batch size; the fastest counts")->capture_default_str();
    app->add_option("--kv-cache-gb", o.kv_cache_gb,
                    "KV-cache budget in GiB (0: min(batch full contexts, 2 GiB on the CPU, 8 GiB on a GPU))")
        ->capture_default_str();
    app->add_option("--digest-threads", o.digest_threads,
                    "Threads hashing the logits beside the next step (-1: a quarter of the cores, 1 to 4; 0: after each step)")
        ->capture_default_str();
    app->add_flag("--no-digests", o.no_digests, "Skip the per-step logits digests (to measure what they cost)");
    app->add_flag("--no-pipeline", o.no_pipeline,
                  "Take each step's records before launching the next (to measure what pipelining gains)");
    app->add_flag("--no-graphs", o.no_graphs, "Run decode steps eagerly, without CUDA graphs (to measure what they gain)");
    add_sampling_options(app, &o.sampling);
    app->add_option("--profile", o.profile,
                    "Write a torch profiler (Kineto) Chrome trace of the last batch size's last run to this file "
                    "(summarise it with ci/trace_summary.py)");
    app->add_flag("--json", o.json, "Print a JSON record instead of the table");
  });
}

}  // namespace lockstep::cli

// `lockstep compare`: the same request co-batched N times with random
// neighbours, once with stock kernels and once with lockstep's; how many
// different outputs does each give? (Stock: often several; invariant: one.)
// The output compared is the SHA-256 of the request's tokens and step
// digests decoded in the engine (or of its prefill logits). --one-engine:
// the copies and random fillers all go to one engine at once
// (harness/runs/shared_engine_compare.h).
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/engine/model_bundle.h"
#include "core/error.h"
#include "core/util/sha256.h"
#include "harness/atomic_file.h"
#include "harness/cli/command.h"
#include "harness/cli/endpoint_options.h"
#include "harness/cli/exit_codes.h"
#include "harness/device_options.h"
#include "harness/endpoint/endpoint_compare.h"
#include "harness/env.h"
#include "harness/model_source.h"
#include "harness/paths.h"
#include "harness/runs/run_record.h"
#include "harness/runs/shared_engine_compare.h"
#include "harness/runs/sweep.h"
#include "kernels/mode.h"

namespace lockstep::cli {
namespace {

struct CompareOptions {
  std::string model;
  std::string prompt;
  bool raw = false;
  int64_t length = 1;        // random target ids when no --prompt
  int64_t runs = 20;
  int64_t max_batch = 16;
  int64_t decode_tokens = 8;   // 0: compare the prefill logits only
  uint64_t seed = 1;
  std::string device = "cpu";
  std::string dtype = "fp32";
  std::string out_dir = "lockstep-out";
  bool json = false;
  bool one_engine = false;
  int64_t fillers = 1000;
  int64_t filler_max_prompt = 1000;
  int64_t filler_max_new = 100;
  int64_t threads = 8;
  EndpointCli endpoint;
};

// --endpoint: the target against a server, each run beside 1..MAX_BATCH-1 concurrent fillers.
int compare_endpoint(const CompareOptions& o) {
  const std::string out_path = harness::join_path(o.out_dir, "compare.json");
  harness::check_writable(out_path);
  harness::EndpointCompareSettings s;
  s.endpoint = endpoint_options(o.endpoint);
  if (o.one_engine) throw bad_input("--one-engine is the in-process experiment; with --endpoint the server batches");
  s.target.id = "target";
  s.target.prompt = o.prompt.empty() ? "What is the capital of France?" : o.prompt;
  s.target.chat = !o.raw;
  s.runs = o.runs;
  s.max_fillers = o.max_batch - 1;
  s.max_tokens = o.decode_tokens;
  s.seed = o.seed;
  const nlohmann::ordered_json doc =
      harness::run_endpoint_compare(s, [](const std::string& line) { std::cerr << line << std::endl; });
  harness::write_file_atomically(out_path, doc.dump(2) + "\n");
  if (o.json) std::cout << doc.dump(2) << "\n";
  const auto& u = doc["unique"];
  auto shown = [](const nlohmann::ordered_json& v) { return v.is_null() ? std::string("n/a") : v.dump(); };
  table_stream(o.json) << fmt::format("compare: unique answers over {} runs: tokens {}, logprobs {}, bits {}\n", o.runs,
                                      shown(u["tokens"]), shown(u["logprobs"]), shown(u["bits"]));
  const bool pass = doc["verdict"] == "pass";
  std::cerr << "compare: " << (pass ? "PASS" : "FAIL") << " at level " << doc["best_level"].get<std::string>()
            << "; report: " << out_path << "\n";
  return pass ? kOk : kDiverged;
}

// --one-engine: per mode, the run counts and time of harness::run_shared_engine.
nlohmann::ordered_json one_engine_mode(const std::shared_ptr<const DecoderModel>& model,
                                       const std::vector<int32_t>& target, kernels::Mode mode,
                                       const CompareOptions& o, std::map<std::string, size_t>& unique) {
  harness::SharedEngineSettings s;
  s.copies = o.runs;
  s.fillers = o.fillers;
  s.decode_tokens = o.decode_tokens;
  s.filler_max_prompt = o.filler_max_prompt;
  s.filler_max_new = o.filler_max_new;
  s.max_batch = o.max_batch;
  s.threads = o.threads;
  s.seed = o.seed;
  const std::string name = kernels::mode_name(mode);
  std::cerr << fmt::format("compare: mode {}: {} copies and {} fillers into one engine ...\n", name, o.runs, o.fillers);
  const harness::SharedEngineResult r = harness::run_shared_engine(model, target, mode, s);
  unique[name] = static_cast<size_t>(std::max(r.unique_tokens, r.unique_bits));
  table_stream(o.json) << fmt::format("compare: mode {:<16} {} unique token sequence(s), {} unique bit patterns over {} copies "
                           "({:.1f} s, {} steps, largest batch {})\n",
                           name, r.unique_tokens, r.unique_bits, o.runs, r.seconds, r.stats.steps, r.stats.largest_batch);
  nlohmann::ordered_json histogram = nlohmann::ordered_json::array();
  for (const auto& [digest, count] : r.histogram) histogram.push_back({{"logits_sha256", digest}, {"runs", count}});
  return {{"unique_outputs", r.unique_bits}, {"unique_token_outputs", r.unique_tokens}, {"histogram", histogram},
          {"seconds", r.seconds}, {"steps", r.stats.steps}, {"largest_batch", r.stats.largest_batch},
          {"tokens", r.stats.tokens}};
}

int compare(const CompareOptions& o) {
  if (o.endpoint.given()) return compare_endpoint(o);
  if (o.runs < 1) throw bad_input("--runs must be at least 1");
  if (o.max_batch < 1) throw bad_input("--max-batch must be at least 1");
  if (o.decode_tokens < 0) throw bad_input("--decode-tokens must not be negative");
  if (o.one_engine && o.decode_tokens == 0) throw bad_input("--one-engine decodes: give --decode-tokens >= 1");
  if (o.prompt.empty() && o.length < 1) throw bad_input("--length must be at least 1");
  const std::string out_path = harness::join_path(o.out_dir, "compare.json");
  harness::check_writable(out_path);
  const std::string model_path = harness::resolve_model_path(o.model);
  const LoadOptions load = harness::parse_load_options(o.device, o.dtype);
  std::cerr << "compare: loading model " << model_path << " ..." << std::endl;
  const std::shared_ptr<const ModelBundle> bundle = ModelBundle::load(model_path, load);
  harness::Environment environment = harness::collect_environment();
  harness::describe_device(environment, load);
  const int64_t vocab = bundle->model.config().vocab;
  std::mt19937_64 target_rng(o.seed);
  const std::vector<int32_t> target =
      o.prompt.empty() ? harness::random_token_ids(target_rng, static_cast<size_t>(o.length), vocab) : bundle->prompt_ids(o.prompt, o.raw);

  const std::shared_ptr<const DecoderModel> model(bundle, &bundle->model);
  nlohmann::ordered_json modes = nlohmann::ordered_json::object();
  std::map<std::string, size_t> unique;
  for (kernels::Mode mode : {kernels::Mode::off, kernels::Mode::batch_invariant}) {
    if (o.one_engine) {
      modes[kernels::mode_name(mode)] = one_engine_mode(model, target, mode, o, unique);
      continue;
    }
    const kernels::ModeGuard guard(mode);
    std::mt19937_64 rng(o.seed * 7919 + 1);   // the same batches for both modes
    std::map<std::string, int64_t> counts;
    nlohmann::ordered_json runs = nlohmann::ordered_json::array();
    for (int64_t r = 0; r < o.runs; ++r) {
      // Run 1 is the request alone; the others share a random batch with it.
      const int64_t drawn = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(o.max_batch));
      const int64_t batch = r == 0 ? 1 : drawn;
      const int64_t slot = static_cast<int64_t>(rng() % static_cast<uint64_t>(batch));
      std::string digest;
      if (o.decode_tokens == 0) {
        digest = harness::logits_sha256(harness::logits_in_batch(bundle->model, target, batch, slot, rng));
      } else {
        // The output: every generated token and every step's logits digest, through the engine.
        const harness::RunRecord r = harness::decode_in_engine(model, target, o.decode_tokens, batch, slot, rng);
        std::string all = r.ids_sha256;
        for (const std::string& s : r.step_logits_sha256) all += s;
        digest = sha256_hex(all);
      }
      ++counts[digest];
      runs.push_back({{"batch", batch}, {"slot", slot}, {"logits_sha256", digest}});
      if ((r + 1) % std::max<int64_t>(1, o.runs / 10) == 0 || r + 1 == o.runs) {
        std::cerr << fmt::format("compare: mode {}: {}/{} runs, {} unique so far", kernels::mode_name(mode), r + 1, o.runs,
                                 counts.size())
                  << std::endl;
      }
    }
    nlohmann::ordered_json histogram = nlohmann::ordered_json::array();
    for (const auto& [digest, count] : counts) histogram.push_back({{"logits_sha256", digest}, {"runs", count}});
    const std::string name = kernels::mode_name(mode);
    unique[name] = counts.size();
    table_stream(o.json) << fmt::format("compare: mode {:<16} {} unique output(s) over {} co-batched runs\n", name, counts.size(),
                             o.runs);
    modes[name] = {{"unique_outputs", counts.size()}, {"histogram", histogram}, {"runs", runs}};
  }
  const bool invariant_ok = unique["batch_invariant"] == 1;
  const nlohmann::ordered_json doc = {{"schema", "lockstep.compare/0"},
                                      {"model", {{"path", model_path}, {"file_sha256", model_sha256(model_path)}}},
                                      {"environment", environment},
                                      {"target_ids", target},
                                      {"settings", {{"runs", o.runs}, {"max_batch", o.max_batch}, {"seed", o.seed},
                                                    {"decode_tokens", o.decode_tokens}, {"one_engine", o.one_engine},
                                                    {"fillers", o.one_engine ? o.fillers : 0}}},
                                      {"verdict", invariant_ok ? "pass" : "fail"},
                                      {"modes", modes}};
  harness::write_file_atomically(out_path, doc.dump(2) + "\n");
  if (o.json) std::cout << doc.dump(2) << "\n";
  std::cerr << "compare: " << (invariant_ok ? "PASS" : "FAIL") << ": " << unique["off"] << " unique with stock kernels, "
            << unique["batch_invariant"] << " with lockstep's; report: " << out_path << "\n";
  return invariant_ok ? kOk : kDiverged;
}

}  // namespace

Command add_compare_command(CLI::App& parent) {
  const char* about =
      "Count the different outputs one request gets across co-batched runs: stock vs invariant kernels.";
  return options_command<CompareOptions>(parent, "compare", about, compare, [](CLI::App* app, CompareOptions& o) {
    app->footer(
        "The target (the --prompt's ids, or --length random ids from --seed) runs RUNS times: alone, then inside "
        "batches of 1 to MAX_BATCH random requests at a random slot, with --mode off and with batch_invariant (the same batches). "
        "The output is the SHA-256 of the target's generated tokens and every step's logits, decoded "
        "(--decode-tokens, greedy) through the batching engine beside requests that end at random steps; with "
        "--decode-tokens 0, of its prefill logits at every position.\n"
        "Exit codes: 0 batch_invariant gave exactly one output, 1 it gave more, 2 bad input, 3 environment.");
    app->add_option("--model", o.model, kModelHelp);
    app->add_option("--prompt", o.prompt, "Target prompt (chat-formatted unless --raw)");
    app->add_flag("--raw", o.raw, "Tokenize --prompt as plain text");
    app->add_option("--length", o.length, "Random target length when no --prompt")->capture_default_str();
    app->add_option("--runs", o.runs, "Co-batched runs per mode")->capture_default_str();
    app->add_option("--max-batch", o.max_batch, "Largest batch")->capture_default_str();
    app->add_option("--decode-tokens", o.decode_tokens, "Tokens the target decodes per run (0: prefill only)")
        ->capture_default_str();
    app->add_option("--seed", o.seed, "Seed of the batches (and of a random target)")->capture_default_str();
    app->add_option("--device", o.device, harness::kDeviceHelp)->capture_default_str();
    app->add_option("--dtype", o.dtype, harness::kDtypeHelp)->capture_default_str();
    app->add_option("--out-dir", o.out_dir, "Directory for compare.json")->capture_default_str();
    app->add_flag("--one-engine", o.one_engine,
                  "RUNS copies of the target and --fillers random requests submitted at once to ONE engine per mode "
                  "(the Thinking Machines experiment); unique outputs counted by tokens and by bits");
    app->add_option("--fillers", o.fillers, "--one-engine: random requests beside the copies")->capture_default_str();
    app->add_option("--filler-max-prompt", o.filler_max_prompt, "--one-engine: filler prompts are 1..N random ids")
        ->capture_default_str();
    app->add_option("--filler-max-new", o.filler_max_new, "--one-engine: fillers generate 1..N tokens")
        ->capture_default_str();
    app->add_option("--threads", o.threads, "--one-engine: submitting threads")->capture_default_str();
    app->add_flag("--json", o.json, "Also print compare.json on stdout");
    add_endpoint_options(app, o.endpoint,
                         "Compare against an OpenAI-compatible server at this base URL: the target (--prompt, default a "
                         "question) RUNS times, each beside 1..MAX_BATCH-1 concurrent seeded requests; unique answers by "
                         "tokens, logprobs and bits (as far as the server returns them)",
                         /*with_level=*/false);
  });
}

}  // namespace lockstep::cli

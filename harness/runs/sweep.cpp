#include "harness/runs/sweep.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <fmt/format.h>

#include "core/engine/engine.h"
#include "core/engine/model_bundle.h"
#include "core/error.h"
#include "core/util/sha256.h"
#include "harness/env.h"
#include "harness/runs/case_runner.h"
#include "harness/runs/run_record.h"
#include "kernels/argmax.h"
#include "kernels/mode.h"

namespace lockstep::harness {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The target's prefill as a one-step record: the digest of its logits at
// every position [L, vocab] and the greedy next token.
RunRecord record_for(const at::Tensor& logits, const std::vector<int32_t>& ids, double seconds) {
  RunRecord r;
  r.prompt_ids = ids;
  r.step_logits_sha256 = {logits_sha256(logits)};
  r.output_ids = {static_cast<int32_t>(kernels::argmax_smallest_index(logits[logits.size(0) - 1]).item<int64_t>())};
  r.ids_sha256 = ids_sha256(r.output_ids);
  r.stop_reason = "prefill";
  r.duration_s = seconds;
  return r;
}

}  // namespace

std::vector<int32_t> random_token_ids(std::mt19937_64& rng, size_t n, int64_t vocab) {
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> ids(n);
  for (int32_t& x : ids) x = id(rng);
  return ids;
}

at::Tensor logits_in_batch(const DecoderModel& model, const std::vector<int32_t>& target, int64_t batch, int64_t slot,
                           std::mt19937_64& rng) {
  std::vector<std::vector<int32_t>> rows;
  for (int64_t i = 0; i < batch; ++i) {
    rows.push_back(i == slot ? target : random_token_ids(rng, target.size(), model.config().vocab));
  }
  return model.forward_batch(rows)[slot];
}

// The target's tokens and step digests from one Engine, alone (batch 1) or
// submitted at once with batch-1 random requests (random prompt lengths
// 1..2L, random budgets 1..2N), so the batch it decodes in changes as they end.
RunRecord decode_in_engine(const std::shared_ptr<const DecoderModel>& model, const std::vector<int32_t>& target,
                           int64_t tokens, int64_t batch, int64_t slot, std::mt19937_64& rng) {
  EngineOptions options;
  options.max_batch = std::max<int64_t>(batch, 1);
  options.max_prefill_tokens = int64_t{1} << 30;   // every prompt in the first step
  options.mode = kernels::mode();
  GenerateOptions generate;
  generate.max_new_tokens = tokens;
  generate.stop_at_eos = false;
  const int64_t vocab = model->config().vocab;
  const int64_t max_len = std::min<int64_t>(2 * static_cast<int64_t>(target.size()), model->config().context - 2 * tokens);
  std::vector<std::future<Generation>> futures;
  const auto t0 = Clock::now();
  {
    Engine engine(model, {}, options);
    for (int64_t i = 0; i < batch; ++i) {
      if (i == slot) {
        futures.push_back(engine.submit(target, generate));
        continue;
      }
      GenerateOptions filler = generate;
      filler.max_new_tokens = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * tokens));
      const auto len = static_cast<size_t>(1 + rng() % static_cast<uint64_t>(std::max<int64_t>(max_len, 1)));
      futures.push_back(engine.submit(random_token_ids(rng, len, vocab), filler));
    }
    for (auto& f : futures) f.wait();
  }
  return record_of(futures[static_cast<size_t>(slot)].get(), since(t0));
}

std::string logits_sha256(const at::Tensor& logits) {
  // CUDA and bf16/fp16 logits are hashed as fp32 on the host, like generate()'s.
  const at::Tensor l = logits.to(at::kCPU).to(at::kFloat).contiguous();
  return sha256_hex(l.const_data_ptr(), static_cast<size_t>(l.numel()) * sizeof(float));
}

void validate(const SweepPlan& plan, int64_t vocab) {
  if (plan.decode_tokens < 0) throw bad_input("sweep: --decode-tokens must not be negative");
  if (plan.lengths.empty() || plan.batches.empty()) throw bad_input("sweep: --lengths and --batches must not be empty");
  for (int64_t l : plan.lengths) {
    if (l < 1) throw bad_input("sweep: prompt lengths must be at least 1, got " + std::to_string(l));
  }
  for (int64_t b : plan.batches) {
    if (b < 1) throw bad_input("sweep: batch sizes must be at least 1, got " + std::to_string(b));
  }
  const int64_t l = *std::max_element(plan.lengths.begin(), plan.lengths.end());
  const int64_t b = *std::max_element(plan.batches.begin(), plan.batches.end());
  const double bytes = static_cast<double>(l) * static_cast<double>(b) * static_cast<double>(vocab) * 4.0;
  if (bytes > static_cast<double>(plan.max_logits_bytes)) {
    throw bad_input(fmt::format("sweep: batch {} x length {} needs {:.1f} GiB of logits (limit {:.1f} GiB); "
                                "use smaller --batches or --lengths",
                                b, l, bytes / (1 << 30), static_cast<double>(plan.max_logits_bytes) / (1 << 30)));
  }
}

// Run "batch-B" of a case: its record in a batch of B against the case's solo reference.
static RunResult batch_run(const ModelBundle& bundle, int64_t batch, const RunRecord& reference, const RunRecord& record) {
  RunResult run;
  run.label = "batch-" + std::to_string(batch);
  run.kind = RunKind::batch;
  run.duration_s = record.duration_s;
  run.first_divergence = first_divergence(reference, record);
  run.match = !run.first_divergence;
  if (run.first_divergence) name_tokens(bundle, *run.first_divergence);
  return run;
}

static CaseResult decode_case(const std::shared_ptr<const DecoderModel>& model, const ModelBundle& bundle,
                       const std::vector<int32_t>& target, int64_t length, const SweepPlan& plan, std::mt19937_64& rng,
                       const Progress& progress) {
  CaseResult c;
  c.id = "decode-len-" + std::to_string(length);
  c.prompt = fmt::format("{} random token ids (seed {}), {} tokens decoded in the engine", length, plan.seed,
                         plan.decode_tokens);
  c.chat = false;
  c.max_new_tokens = plan.decode_tokens;
  c.reference = decode_in_engine(model, target, plan.decode_tokens, 1, 0, rng);
  c.text = bundle.tokenizer.decode(c.reference.output_ids);
  for (int64_t batch : plan.batches) {
    const int64_t slot = static_cast<int64_t>(rng() % static_cast<uint64_t>(batch));
    RunResult run = batch_run(bundle, batch, c.reference,
                              decode_in_engine(model, target, plan.decode_tokens, batch, slot, rng));
    progress(fmt::format("sweep: length {:>4} batch {:>3} (slot {:>2}) decode {} tokens ... {} {:.2f}s", length, batch,
                         slot, plan.decode_tokens, run.match ? "same" : "DIFFERS", run.duration_s));
    c.runs.push_back(std::move(run));
  }
  return c;
}

VerifyResults run_sweep(const SweepPlan& plan, const Progress& progress) {
  validate(plan);
  const auto start = Clock::now();
  VerifyResults results;
  results.started_at = utc_timestamp_now();
  results.environment = collect_environment();
  results.suite_name = "sweep";
  results.runs = 1;
  results.model.path = plan.model_path;
  results.model.file_sha256 = model_sha256(plan.model_path);
  const auto load_start = Clock::now();
  const std::shared_ptr<const ModelBundle> bundle = ModelBundle::load(plan.model_path, plan.load);
  results.model.name = bundle->name;
  progress(fmt::format("sweep: loaded {} ... {:.1f}s", plan.model_path, since(load_start)));
  const DecoderModel& model = bundle->model;
  describe_device(results.environment, plan.load);
  const std::shared_ptr<const DecoderModel> shared_model(bundle, &bundle->model);
  const int64_t vocab = model.config().vocab;
  for (int64_t length : plan.lengths) {
    if (length > model.config().context) {
      throw bad_input(fmt::format("sweep: length {} exceeds the model's context {}", length, model.config().context));
    }
  }

  for (int64_t length : plan.lengths) {
    std::mt19937_64 rng(plan.seed * 1000003 + static_cast<uint64_t>(length));
    const std::vector<int32_t> target = random_token_ids(rng, static_cast<size_t>(length), vocab);
    CaseResult c;
    c.id = "len-" + std::to_string(length);
    c.prompt = fmt::format("{} random token ids (seed {})", length, plan.seed);
    c.chat = false;
    c.max_new_tokens = 1;
    // The logits first, then the clock: a call's arguments may be evaluated in any order.
    auto t0 = Clock::now();
    const at::Tensor solo = model.forward_batch({target})[0];
    c.reference = record_for(solo, target, since(t0));
    c.text = bundle->tokenizer.decode_token(c.reference.output_ids[0]);
    for (int64_t batch : plan.batches) {
      const int64_t slot = static_cast<int64_t>(rng() % static_cast<uint64_t>(batch));
      t0 = Clock::now();
      const at::Tensor logits = logits_in_batch(model, target, batch, slot, rng);
      RunResult run = batch_run(*bundle, batch, c.reference, record_for(logits, target, since(t0)));
      progress(fmt::format("sweep: length {:>4} batch {:>3} (slot {:>2}) ... {} {:.2f}s", length, batch, slot,
                           run.match ? "same" : "DIFFERS", run.duration_s));
      c.runs.push_back(std::move(run));
    }
    results.cases.push_back(std::move(c));
    if (plan.decode_tokens > 0) {
      results.cases.push_back(decode_case(shared_model, *bundle, target, length, plan, rng, progress));
    }
  }
  results.duration_s = since(start);
  return results;
}

}  // namespace lockstep::harness

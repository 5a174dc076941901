#include "harness/endpoint/endpoint_sweep.h"

#include <chrono>
#include <random>

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep::harness {

VerifyResults run_endpoint_sweep(const EndpointSweepPlan& plan, const Progress& progress) {
  if (plan.lengths.empty() || plan.concurrency.size() < 2) {
    throw bad_input("sweep --endpoint needs at least one length and two concurrency levels (--batches)");
  }
  for (int64_t l : plan.lengths) {
    if (l < 1 || l > 4096) throw bad_input(fmt::format("--lengths: {} words is outside 1..4096", l));
  }
  for (int64_t c : plan.concurrency) {
    if (c < 1 || c > 1024) throw bad_input(fmt::format("--batches: concurrency {} is outside 1..1024", c));
  }
  if (plan.max_tokens < 1) throw bad_input("--decode-tokens must be at least 1 with --endpoint");
  const auto start = std::chrono::steady_clock::now();
  EndpointClient client(plan.endpoint);
  const ServerIdentity id = client.identify();
  progress("sweep: endpoint " + id.description);
  VerifyResults results;
  results.started_at = utc_timestamp_now();
  results.suite_name = "sweep";
  results.runs = static_cast<int64_t>(plan.concurrency.size());
  results.model = ModelIdentity{id.url, id.model, id.model_sha256};
  std::optional<EndpointLevel> level;
  std::mt19937_64 rng(plan.seed);
  for (int64_t length : plan.lengths) {
    CaseResult result;
    result.id = fmt::format("len-{}", length);
    SuiteCase target;
    target.id = result.id;
    target.prompt = random_words(rng, length);
    target.chat = false;
    target.max_new_tokens = plan.max_tokens;
    result.prompt = target.prompt;
    result.max_new_tokens = plan.max_tokens;
    EndpointAnswer reference;
    for (size_t k = 0; k < plan.concurrency.size(); ++k) {
      const int64_t c = plan.concurrency[k];
      const std::string label = fmt::format("concurrency-{}", c);
      const EndpointAnswer a =
          send_with_fillers(client, target, plan.max_tokens, c - 1, rng(), fmt::format("{} {}", result.id, label));
      if (!level) {
        level = level_for(a, plan.level);
        progress("sweep: comparing at " + describe_level(*level, a));
      }
      adopt_environment(results, a);
      for (int64_t b : a.step_batch) ++results.batch_sizes[b];
      const RunRecord record = record_at(a, *level);
      if (k == 0) {
        result.reference = record;
        result.text = a.text;
        reference = a;
        continue;
      }
      RunResult r = compare_answer(result.reference, reference, a, record, label, RunKind::batch);
      progress(fmt::format("sweep: {} at concurrency {} ... {}", result.id, c,
                           r.match ? "same" : "DIFFERS: " + describe(*r.first_divergence)));
      result.runs.push_back(std::move(r));
    }
    results.cases.push_back(std::move(result));
  }
  note_server(results, id);
  results.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return results;
}

}  // namespace lockstep::harness

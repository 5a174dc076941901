#include "harness/runs/verifier.h"

#include <malloc.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/engine/model_bundle.h"
#include "core/error.h"
#include "core/util/sha256.h"
#include "harness/runs/batch_runner.h"
#include "harness/runs/case_runner.h"
#include "harness/runs/fault_hook.h"
#include "harness/runs/localise.h"
#include "harness/runs/subprocess.h"
#include "kernels/mode.h"
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault.h"
#endif

namespace lockstep::harness {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
using Bundle = std::shared_ptr<const ModelBundle>;

constexpr const char* kWorkerSchema = "lockstep.worker/0";

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Peak resident set of this process so far, MiB.
double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// A field of /proc/self/status in MiB (VmRSS: the resident set; RssFile:
// its file-backed part, where a model file mapped and never unmapped shows);
// -1 where it cannot be read. The reload check prints both after every load,
// and tests/harness/test_reload_rss.py bounds their growth over 100 reloads.
double status_mib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::strtod(line.c_str() + field.size() + 1, nullptr) / 1024.0;  // kB
  }
  return -1.0;
}

// Bytes malloc holds for live allocations now (small chunks in use in every
// arena plus mmap'ed large chunks), MiB. Unlike VmRSS it does not move when
// the allocator keeps or returns freed memory, so a leak shows here as a
// steady climb while the resident set may step up and down by tens of MiB.
double heap_in_use_mib() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd) / (1024.0 * 1024.0);
}

class Verifier {
 public:
  Verifier(const VerifyPlan& plan, const Progress& progress) : plan_(plan), progress_(progress) {}

  VerifyResults run() {
    const auto start = Clock::now();
    results_.started_at = utc_timestamp_now();
    results_.environment = collect_environment();
    describe_device(results_.environment, plan_.load);
    start_results(results_, plan_.suite);
    results_.runs = plan_.runs;
    results_.processes = plan_.processes;
    results_.model.path = plan_.model_path;
    results_.model.file_sha256 = plan_.model_sha256.empty() ? model_sha256(plan_.model_path) : plan_.model_sha256;
    load_model("loading model " + plan_.model_path);
    results_.model.name = bundle_->name;
    for (int64_t r = 1; r <= plan_.runs; ++r) in_process_run(r);
    if (plan_.batch_plan) batch_rounds();
    localise_failures();
    if (plan_.workers > 0) stress_run();
    for (int64_t p = 1; p <= plan_.processes; ++p) process_run(p);
    results_.duration_s = since(start);
    return results_;
  }

 private:
  void load_model(const std::string& what) {
    const auto start = Clock::now();
    bundle_.reset();   // the old weights go before the new ones arrive
    bundle_ = ModelBundle::load(plan_.model_path, plan_.load);
    progress_(fmt::format("verify: {} ... {:.1f}s (RSS {:.1f} MiB, file-backed {:.1f} MiB, heap in use {:.2f} MiB, "
                          "peak RSS {:.0f} MiB)",
                          what, since(start), status_mib("VmRSS"), status_mib("RssFile"), heap_in_use_mib(),
                          peak_rss_mib()));
  }

  // The engine hooks of run `label`: the test-only fault observer and, in
  // the fault build, the run's label on the engine's scheduler thread.
  EngineHooks hooks_for(const std::string& label) const {
    EngineHooks hooks;
    hooks.observer = fault_observer(plan_.fault, label);
#ifdef LOCKSTEP_FAULT_INJECTION
    kernels::fault::set_run_label(label);   // this thread tokenizes the prompts
    hooks.on_scheduler_start = [label] { kernels::fault::set_run_label(label); };
#endif
    return hooks;
  }

  // run-1: every case alone in a fresh engine (the reference); later runs:
  // all cases submitted together to one engine.
  void in_process_run(int64_t r) {
    const std::string label = "run-" + std::to_string(r);
    const bool reload = r > 1 && (plan_.reload_every_run || r == plan_.runs);
    if (reload) load_model(fmt::format("re-loading model for {}", label));
    const EngineHooks hooks = hooks_for(label);
    const std::vector<CaseRequest> requests = case_requests(*bundle_, plan_.suite);
    const size_t n = requests.size();
    if (r == 1) {
      for (size_t i = 0; i < n; ++i) {
        const CaseRun run = run_solo(bundle_, requests[i], hooks);
        results_.cases[i].reference = run.record;
        Generation g;
        g.output_ids = run.record.output_ids;
        g.stop_reason = run.record.stop_reason;
        results_.cases[i].text = answer_text(*bundle_, g);
        progress_(fmt::format("verify: case {}/{} '{}' run 1/{} ... reference (alone), {} tokens {:.1f}s", i + 1, n,
                              requests[i].id, plan_.runs, run.record.output_ids.size(), run.record.duration_s));
      }
      return;
    }
    const std::vector<CaseRun> runs = run_together(bundle_, requests, hooks);
    for (size_t i = 0; i < n; ++i) {
      const ProbedRun again = [this, i, label](ActivationProbe* probe) {
        return run_together(bundle_, probed(i, probe), hooks_for(label))[i].record;
      };
      compare(i, label, reload ? RunKind::reload : RunKind::in_process, runs[i].record,
              fmt::format("verify: case {}/{} '{}' run {}/{} (batch of {})", i + 1, n, requests[i].id, r, plan_.runs, n),
              runs[i].batch, again);
    }
  }

  // The batch plan's rounds (`plan_repeats` times, each repeat with fillers
  // of the next seed: "batch-3", then "batch-3.2", ...), then whether each
  // case's runs show all the plan asked for.
  void batch_rounds() {
    const BatchPlan& plan = *plan_.batch_plan;
    for (int64_t repeat = 0; repeat < plan_.plan_repeats; ++repeat) {
      BatchPlan seeded = plan;
      seeded.fillers.seed = plan.fillers.seed + static_cast<uint64_t>(repeat);
      for (const std::string& round : plan.round_labels()) {
        const std::string label = repeat == 0 ? round : fmt::format("{}.{}", round, repeat + 1);
        results_.batch_rounds.push_back(label);
        const EngineHooks hooks = hooks_for(label);
        const std::vector<CaseRequest> requests = case_requests(*bundle_, plan_.suite);
        const auto start = Clock::now();
        const std::vector<CaseRun> runs = run_round(bundle_, seeded, round, requests, hooks);
        for (size_t i = 0; i < runs.size(); ++i) {
          const ProbedRun again = [this, i, label, seeded, round](ActivationProbe* probe) {
            return run_round(bundle_, seeded, round, probed(i, probe), hooks_for(label))[i].record;
          };
          compare(i, label, RunKind::batch, runs[i].record,
                  fmt::format("verify: case {}/{} '{}' {}", i + 1, runs.size(), requests[i].id, label), runs[i].batch,
                  again);
        }
        progress_(fmt::format("verify: round {} done in {:.1f}s", label, since(start)));
      }
    }
    for (CaseResult& c : results_.cases) {
      std::vector<const BatchPlace*> places;
      for (const RunResult& run : c.runs) {
        if (run.batch && run.kind == RunKind::batch) places.push_back(&*run.batch);
      }
      const std::string gaps = plan_gaps(plan, places);
      if (gaps.empty()) continue;
      RunResult failed;
      failed.label = "batch-plan";
      failed.kind = RunKind::batch;
      failed.error = "the batch plan was not carried out: " + gaps;
      progress_(fmt::format("verify: case '{}' ... FAILED: {}", c.id, failed.error));
      c.runs.push_back(std::move(failed));
    }
  }

  // `workers` requests (worker w runs case w mod n) submitted from `threads`
  // threads to ONE engine, so that they are batched together; each is
  // compared with its case's reference.
  void stress_run() {
    const size_t n = plan_.suite.cases.size();
    const int64_t threads = std::max<int64_t>(1, std::min(plan_.threads, plan_.workers));
    progress_(fmt::format("verify: stress: {} requests from {} threads to one engine", plan_.workers, threads));
    const auto start = Clock::now();
    const EngineHooks hooks = hooks_for("stress");
    const std::vector<CaseRequest> requests = case_requests(*bundle_, plan_.suite);
    EngineOptions options;
    options.max_batch = std::max<int64_t>(threads, 1);
    options.mode = kernels::mode();
    options.on_scheduler_start = hooks.on_scheduler_start;
    Engine engine(std::shared_ptr<const DecoderModel>(bundle_, &bundle_->model), {bundle_->tokenizer.eos_id()}, options);
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0}, differing{0};
    std::mutex mutex;
    std::exception_ptr failure;
    const int64_t step = std::max<int64_t>(1, plan_.workers / 20);
    auto work = [&] {
      try {
        for (int64_t w = next++; w < plan_.workers; w = next++) {
          const size_t i = static_cast<size_t>(w) % n;
          const auto t0 = Clock::now();
          Generation g = engine.submit(requests[i].prompt_ids, requests[i].options, fault_observer(plan_.fault, "worker-" + std::to_string(w + 1))).get();
          const RunRecord record = record_of(g, since(t0));
          RunResult run;
          run.label = "worker-" + std::to_string(w + 1);
          run.kind = RunKind::thread;
          run.duration_s = record.duration_s;
          run.first_divergence = first_divergence(results_.cases[i].reference, record);
          run.match = !run.first_divergence;
          BatchPlace place;
          for (const StepPlace& s : g.step_places) {
            place.sizes.push_back(s.batch);
            place.rows.push_back(s.row);
          }
          run.batch = std::move(place);
          if (!run.match) ++differing;
          const int64_t finished = ++done;
          std::lock_guard<std::mutex> lock(mutex);
          if (run.first_divergence) name_tokens(*bundle_, *run.first_divergence);
          for (int64_t b : run.batch->sizes) ++results_.batch_sizes[b];
          results_.cases[i].runs.push_back(std::move(run));
          if (finished % step == 0 || finished == plan_.workers) {
            progress_(fmt::format("stress: {}/{} requests done, {} differ, largest batch {}, {:.1f}s, peak RSS {:.0f} MiB",
                                  finished, plan_.workers, differing.load(), engine.stats().largest_batch, since(start),
                                  peak_rss_mib()));
          }
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        next = plan_.workers;   // the others stop claiming work
      }
    };
    std::vector<std::thread> pool;
    for (int64_t t = 0; t < threads; ++t) pool.emplace_back(work);
    for (std::thread& t : pool) t.join();
    if (failure) std::rethrow_exception(failure);
  }

  void process_run(int64_t p) {
    const std::string label = "process-" + std::to_string(p);
    std::vector<std::string> argv = plan_.worker_command;
    argv.push_back("--worker");
    argv.push_back(label);
    progress_(fmt::format("verify: process {}/{} ({}) starting", p, plan_.processes, label));
    const ProcessOutcome outcome = run_process(argv);

    std::map<std::string, RunRecord> records;
    std::string error;
    if (!outcome.succeeded()) {
      error = fmt::format("worker {} {}; stderr tail:\n{}", label, outcome.status(), tail_lines(outcome.err, 20));
    } else {
      try {
        const json doc = json::parse(outcome.out);
        if (doc.value("schema", "") != kWorkerSchema || doc.value("label", "") != label) {
          throw bad_input("unexpected schema or label");
        }
        for (const json& entry : doc.at("cases")) {
          records[entry.at("id").get<std::string>()] = entry.at("record").get<RunRecord>();
        }
      } catch (const std::exception& e) {
        error = fmt::format("worker {} printed unreadable output ({}); stderr tail:\n{}", label, e.what(),
                            tail_lines(outcome.err, 20));
      }
    }
    const size_t n = plan_.suite.cases.size();
    for (size_t i = 0; i < n; ++i) {
      const SuiteCase& c = plan_.suite.cases[i];
      const std::string where =
          fmt::format("verify: case {}/{} '{}' process {}/{}", i + 1, n, c.id, p, plan_.processes);
      auto it = records.find(c.id);
      if (!error.empty() || it == records.end()) {
        RunResult run;
        run.label = label;
        run.kind = RunKind::process;
        run.duration_s = 0.0;
        run.error = error.empty() ? fmt::format("worker {} reported no result for this case", label) : error;
        results_.cases[i].runs.push_back(run);
        progress_(fmt::format("{} ... FAILED: {}", where, run.error.substr(0, run.error.find(';'))));
        continue;
      }
      compare(i, label, RunKind::process, it->second, where);
    }
    progress_(fmt::format("verify: process {}/{} ({}) {} in {:.1f}s", p, plan_.processes, label,
                          error.empty() ? "done" : "failed", outcome.duration_s));
  }

  // The suite's requests, case i with `probe` on it.
  std::vector<CaseRequest> probed(size_t i, ActivationProbe* probe) const {
    std::vector<CaseRequest> requests = case_requests(*bundle_, plan_.suite);
    requests[i].options.probe = probe;
    return requests;
  }

  // The first failing co-batched run of up to plan_.localise cases, re-run
  // solo and in its batch with activation digests (harness/runs/localise.h).
  void localise_failures() {
    std::vector<bool> done(results_.cases.size(), false);
    int64_t count = 0;
    for (const Relocatable& r : relocatable_) {
      if (done[r.case_index] || count >= plan_.localise) continue;
      done[r.case_index] = true;
      ++count;
      CaseResult& c = results_.cases[r.case_index];
      RunResult& run = c.runs[r.run_index];
      const auto start = Clock::now();
      const size_t i = r.case_index;
      const ProbedRun solo = [this, i](ActivationProbe* probe) {
        return run_solo(bundle_, probed(i, probe)[i], hooks_for("run-1")).record;
      };
      progress_(fmt::format("verify: case '{}' {}: re-running solo and in its batch with activation digests", c.id,
                            run.label));
      run.first_divergent_activation =
          localise(c.reference, *run.first_divergence, bundle_->model.config().n_layers, solo, r.again);
      progress_(fmt::format("verify: case '{}' {}: {} ({:.1f}s)", c.id, run.label, run.first_divergent_activation->what,
                            since(start)));
    }
  }

  void compare(size_t i, const std::string& label, RunKind kind, const RunRecord& record,
               const std::string& where, const std::optional<BatchPlace>& batch = std::nullopt,
               const ProbedRun& again = {}) {
    RunResult run;
    run.batch = batch;
    if (batch) {
      for (int64_t b : batch->sizes) ++results_.batch_sizes[b];
    }
    run.label = label;
    run.kind = kind;
    run.duration_s = record.duration_s;
    run.first_divergence = first_divergence(results_.cases[i].reference, record);
    run.match = !run.first_divergence.has_value();
    if (run.first_divergence) {
      Divergence& d = *run.first_divergence;
      name_tokens(*bundle_, d);
      progress_(fmt::format("{} ... DIFFERS at step {} ({}){} {:.1f}s", where, d.step, d.reason, where_in_batch(run),
                            run.duration_s));
      if (again) relocatable_.push_back(Relocatable{i, results_.cases[i].runs.size(), again});
    } else {
      progress_(fmt::format("{} ... ok {:.1f}s", where, run.duration_s));
    }
    results_.cases[i].runs.push_back(std::move(run));
  }

  struct Relocatable {
    size_t case_index = 0;
    size_t run_index = 0;   // in the case's runs
    ProbedRun again;        // the failing batch again, the probe on this case
  };
  std::vector<Relocatable> relocatable_;
  const VerifyPlan& plan_;
  const Progress& progress_;
  Bundle bundle_;
  VerifyResults results_;
};

}  // namespace

VerifyResults run_verify(const VerifyPlan& plan, const Progress& progress) {
  if (plan.runs < 1) throw bad_input("--runs must be at least 1");
  if (plan.processes < 0) throw bad_input("--processes must not be negative");
  if (plan.workers < 0) throw bad_input("--workers must not be negative");
  if (plan.workers > 0 && plan.threads < 1) throw bad_input("--threads must be at least 1");
  if (plan.workers > 0 && plan.suite.cases.empty()) throw bad_input("stress needs at least one case");
  if (plan.plan_repeats < 1) throw bad_input("--plan-repeats must be at least 1");
  return Verifier(plan, progress).run();
}

json worker_output(const Suite& suite, const std::string& model_path, const LoadOptions& load, const std::string& label,
                   const std::optional<Fault>& fault) {
  abort_if_requested(fault, label);
#ifdef LOCKSTEP_FAULT_INJECTION
  kernels::fault::set_run_label(label);
#endif
  const Bundle bundle = ModelBundle::load(model_path, load);
  EngineHooks hooks;
  hooks.observer = fault_observer(fault, label);
#ifdef LOCKSTEP_FAULT_INJECTION
  hooks.on_scheduler_start = [label] { kernels::fault::set_run_label(label); };
#endif
  json cases = json::array();
  for (const CaseRequest& request : case_requests(*bundle, suite)) {
    cases.push_back({{"id", request.id}, {"record", run_solo(bundle, request, hooks).record}});
  }
  return json{{"schema", kWorkerSchema}, {"label", label}, {"cases", cases}};
}

}  // namespace lockstep::harness

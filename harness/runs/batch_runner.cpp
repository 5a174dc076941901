#include "harness/runs/batch_runner.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "harness/runs/case_runner.h"
#include "harness/runs/sweep.h"
#include "kernels/mode.h"

namespace lockstep::harness {
namespace {

// "greedy" or "temperature 0.7, top_k 20, top_p 1, seed 9".
std::string describe(const SamplingOptions& s) {
  if (s.temperature == 0.0) return "greedy";
  return fmt::format("temperature {}, top_k {}, top_p {}, seed {}", s.temperature, s.top_k, s.top_p, s.seed.value_or(0));
}

using Clock = std::chrono::steady_clock;

struct Entry {
  int64_t case_index = -1;   // -1: a filler
  std::vector<int32_t> prompt;
  GenerateOptions options;
  std::string name;          // "case haiku", "filler"
};

// Requests submitted together; `later` once first[clock] has generated
// join_after tokens (they join the running batch at a following step).
struct Group {
  std::vector<Entry> first;
  std::vector<Entry> later;
  size_t clock = 0;
  int64_t join_after = 0;
};

struct Done {
  const Entry* entry = nullptr;
  Generation generation;
  double duration_s = 0.0;   // from the group's start until collected
};

std::unique_ptr<Engine> make_engine(const BundlePtr& bundle, int64_t max_batch, const EngineHooks& hooks) {
  EngineOptions options;
  options.max_batch = max_batch;
  options.max_prefill_tokens = int64_t{1} << 30;   // a group's prompts all in its first step
  options.mode = kernels::mode();
  options.on_scheduler_start = hooks.on_scheduler_start;
  const std::shared_ptr<const DecoderModel> model(bundle, &bundle->model);
  return std::make_unique<Engine>(model, std::vector<int32_t>{bundle->tokenizer.eos_id()}, options);
}

std::vector<Done> run_group(Engine& engine, const Group& group, const EngineHooks& hooks) {
  auto request = [&](const Entry& e) {
    return Engine::Request{e.prompt, e.options, e.case_index >= 0 ? hooks.observer : StepObserver{}};
  };
  auto ready = std::make_shared<std::promise<void>>();
  std::future<void> clock_ready = ready->get_future();
  std::vector<Engine::Request> first;
  for (size_t i = 0; i < group.first.size(); ++i) {
    first.push_back(request(group.first[i]));
    if (!group.later.empty() && i == group.clock) {
      first.back().observer = [ready, n = group.join_after](int64_t step, at::Tensor&) {
        if (step + 1 == n) ready->set_value();
      };
    }
  }
  const auto start = Clock::now();
  std::vector<std::future<Generation>> futures = engine.submit_all(std::move(first));
  std::vector<const Entry*> entries;
  for (const Entry& e : group.first) entries.push_back(&e);
  if (!group.later.empty()) {
    // The clock is a filler with more than join_after tokens; should it fail
    // first, its error surfaces below and the later requests still run.
    std::future<Generation>& clock = futures[group.clock];
    while (clock_ready.wait_for(std::chrono::milliseconds(5)) != std::future_status::ready &&
           clock.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    }
    std::vector<Engine::Request> later;
    for (const Entry& e : group.later) {
      later.push_back(request(e));
      entries.push_back(&e);
    }
    for (auto& f : engine.submit_all(std::move(later))) futures.push_back(std::move(f));
  }
  std::vector<Done> done;
  for (size_t i = 0; i < futures.size(); ++i) {
    Generation g = futures[i].get();
    done.push_back(Done{entries[i], std::move(g), std::chrono::duration<double>(Clock::now() - start).count()});
  }
  return done;
}

// Where `self` ran, lined up with the others of its engine by step number.
BatchPlace place_of(const Done& self, const std::vector<Done>& all) {
  BatchPlace p;
  const std::vector<StepPlace>& mine = self.generation.step_places;
  for (const StepPlace& s : mine) {
    p.sizes.push_back(s.batch);
    p.rows.push_back(s.row);
  }
  if (mine.empty()) return p;
  const int64_t c0 = mine.front().step, c1 = mine.back().step;
  for (const Done& o : all) {
    const std::vector<StepPlace>& theirs = o.generation.step_places;
    if (&o == &self || theirs.empty()) continue;
    const int64_t o0 = theirs.front().step, o1 = theirs.back().step;
    if (o1 < c0 || o0 > c1) continue;
    p.neighbours.push_back(Neighbour{o.entry->name, static_cast<int64_t>(o.generation.prompt_ids.size()),
                                     static_cast<int64_t>(o.generation.output_ids.size()),
                                     describe(o.entry->options.sampling), o0 - c0, o1 - c0});
    p.joined_running = p.joined_running || o0 < c0;
    p.joined_by_others = p.joined_by_others || o0 > c0;
  }
  return p;
}

// Seeded random requests of the plan's shapes.
class Fillers {
 public:
  Fillers(const FillerPlan& plan, uint64_t seed, const ModelConfig& config)
      : plan_(plan), rng_(seed), vocab_(config.vocab), context_(config.context) {}

  Entry greedy(int64_t prompt_tokens = 0, int64_t new_tokens = 0) {
    Entry e;
    e.name = "filler";
    e.options.stop_at_eos = false;
    e.options.max_new_tokens = new_tokens > 0 ? new_tokens : draw(plan_.min_new, plan_.max_new);
    const int64_t len = prompt_tokens > 0 ? prompt_tokens : draw(plan_.min_prompt, plan_.max_prompt);
    const int64_t fit = std::max<int64_t>(1, std::min(len, context_ - e.options.max_new_tokens));
    e.prompt = random_token_ids(rng_, static_cast<size_t>(fit), vocab_);
    return e;
  }
  Entry sampling() {
    Entry e = greedy();
    const FillerSampling& s = plan_.sampling[next_sampling_++ % plan_.sampling.size()];
    e.options.sampling.temperature = s.temperature;
    e.options.sampling.top_k = s.top_k;
    e.options.sampling.top_p = s.top_p;
    e.options.sampling.seed = plan_.seed + next_sampling_;
    e.options.sampling.stream = next_sampling_;
    return e;
  }
  Entry long_prompt() { return plan_.long_prompt > 0 ? greedy(plan_.long_prompt) : greedy(); }
  std::mt19937_64& rng() { return rng_; }

 private:
  int64_t draw(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(rng_() % static_cast<uint64_t>(hi - lo + 1));
  }
  const FillerPlan& plan_;
  std::mt19937_64 rng_;
  int64_t vocab_, context_;
  size_t next_sampling_ = 0;
};

Entry case_entry(const std::vector<CaseRequest>& requests, size_t i) {
  return Entry{static_cast<int64_t>(i), requests[i].prompt_ids, requests[i].options, "case " + requests[i].id};
}

// batch-B: groups of B requests, about half of them cases (at least one),
// the rest fillers (a sampling one first, then a long prompt, then greedy and
// sampling in turn), in a seeded random order (the rows).
std::vector<Group> batch_groups(int64_t size, const std::vector<CaseRequest>& requests, Fillers& fillers) {
  const size_t per_group = static_cast<size_t>(std::max<int64_t>(1, size / 2));
  std::vector<Group> groups;
  for (size_t begin = 0; begin < requests.size(); begin += per_group) {
    Group g;
    const size_t end = std::min(requests.size(), begin + per_group);
    for (size_t i = begin; i < end; ++i) g.first.push_back(case_entry(requests, i));
    for (int64_t j = 0; static_cast<int64_t>(g.first.size()) < size; ++j) {
      g.first.push_back(j == 0 ? fillers.sampling() : j == 1 ? fillers.long_prompt() : j % 2 ? fillers.greedy() : fillers.sampling());
    }
    std::shuffle(g.first.begin(), g.first.end(), fillers.rng());
    groups.push_back(std::move(g));
  }
  return groups;
}

// join-a / join-b: the cases of one parity start with a clock and a sampling
// filler; once the clock has join_after tokens, the other cases join with a
// long-prompt filler and a sampling one. Each case is on each side once.
Group join_group(int64_t join_after, size_t parity, const std::vector<CaseRequest>& requests, Fillers& fillers) {
  Group g;
  g.join_after = join_after;
  int64_t longest = 1;
  for (const CaseRequest& r : requests) longest = std::max(longest, r.options.max_new_tokens);
  for (size_t i = 0; i < requests.size(); ++i) (i % 2 == parity ? g.first : g.later).push_back(case_entry(requests, i));
  g.first.push_back(fillers.sampling());
  std::shuffle(g.first.begin(), g.first.end(), fillers.rng());
  g.clock = g.first.size();
  g.first.push_back(fillers.greedy(0, join_after + longest));   // alive while the joiners decode
  g.later.push_back(fillers.long_prompt());
  g.later.push_back(fillers.sampling());
  std::shuffle(g.later.begin(), g.later.end(), fillers.rng());
  return g;
}

std::vector<CaseRun> case_runs(const std::vector<Done>& done, size_t cases) {
  std::vector<CaseRun> runs(cases);
  std::vector<bool> seen(cases, false);
  for (const Done& d : done) {
    if (d.entry->case_index < 0) continue;
    const auto i = static_cast<size_t>(d.entry->case_index);
    runs[i] = CaseRun{record_of(d.generation, d.duration_s), place_of(d, done)};
    seen[i] = true;
  }
  for (size_t i = 0; i < cases; ++i) {
    if (!seen[i]) throw std::logic_error("batch runner: a case was not run");
  }
  return runs;
}

}  // namespace

std::vector<CaseRequest> case_requests(const ModelBundle& bundle, const Suite& suite) {
  std::vector<CaseRequest> out;
  for (const SuiteCase& c : suite.cases) {
    out.push_back(CaseRequest{c.id, bundle.prompt_ids(c.prompt, !c.chat), generate_options_for(bundle, c.max_new_tokens)});
  }
  return out;
}

CaseRun run_solo(const BundlePtr& bundle, const CaseRequest& request, const EngineHooks& hooks) {
  return run_together(bundle, {request}, hooks).front();
}

std::vector<CaseRun> run_together(const BundlePtr& bundle, const std::vector<CaseRequest>& requests,
                                  const EngineHooks& hooks) {
  Group g;
  for (size_t i = 0; i < requests.size(); ++i) g.first.push_back(case_entry(requests, i));
  const std::unique_ptr<Engine> engine = make_engine(bundle, std::max<int64_t>(1, static_cast<int64_t>(requests.size())), hooks);
  return case_runs(run_group(*engine, g, hooks), requests.size());
}

std::vector<CaseRun> run_round(const BundlePtr& bundle, const BatchPlan& plan, const std::string& label,
                               const std::vector<CaseRequest>& requests, const EngineHooks& hooks) {
  const std::vector<std::string> labels = plan.round_labels();
  const auto at = std::find(labels.begin(), labels.end(), label);
  if (at == labels.end()) throw bad_input("batch plan: no round '" + label + "'");
  Fillers fillers(plan.fillers, plan.fillers.seed * 1000003 + static_cast<uint64_t>(at - labels.begin()),
                  bundle->model.config());
  std::vector<Group> groups;
  int64_t max_batch = 1;
  if (label.rfind("batch-", 0) == 0) {
    max_batch = std::stoll(label.substr(6));
    groups = batch_groups(max_batch, requests, fillers);
  } else {
    groups.push_back(join_group(plan.join_after, label == "join-a" ? 0 : 1, requests, fillers));
    max_batch = static_cast<int64_t>(groups.back().first.size() + groups.back().later.size());
  }
  const std::unique_ptr<Engine> engine = make_engine(bundle, max_batch, hooks);
  std::vector<Done> done;
  for (const Group& g : groups) {
    std::vector<Done> part = run_group(*engine, g, hooks);
    // Groups run one after another: a case's neighbours are those of its own group.
    for (Done& d : part) done.push_back(std::move(d));
  }
  return case_runs(done, requests.size());
}

std::string plan_gaps(const BatchPlan& plan, const std::vector<const BatchPlace*>& places) {
  std::set<int64_t> sizes;
  bool joined_running = false, joined_by_others = false, sampling = false;
  for (const BatchPlace* p : places) {
    sizes.insert(p->sizes.begin(), p->sizes.end());
    joined_running = joined_running || p->joined_running;
    joined_by_others = joined_by_others || p->joined_by_others;
    sampling = sampling || p->has_sampling_neighbour();
  }
  std::vector<std::string> gaps;
  for (int64_t b : plan.sizes) {
    if (sizes.count(b) == 0) gaps.push_back(fmt::format("no token decoded in a batch of {}", b));
  }
  if (plan.join_after > 0 && !joined_running) gaps.push_back("never joined a batch mid-decode");
  if (plan.join_after > 0 && !joined_by_others) gaps.push_back("no request joined it mid-decode");
  if (!sampling) gaps.push_back("no seeded-sampling neighbour");
  std::string out;
  for (const std::string& g : gaps) out += (out.empty() ? "" : "; ") + g;
  return out;
}

}  // namespace lockstep::harness

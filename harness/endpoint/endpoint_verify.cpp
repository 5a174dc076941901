#include "harness/endpoint/endpoint_verify.h"
#include "kernels/enum_names.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/util/sha256.h"

namespace lockstep::harness {
namespace {

int32_t token_id(const std::string& bytes) {
  const std::string hex = sha256_hex(bytes.data(), bytes.size());
  return static_cast<int32_t>(std::stoul(hex.substr(0, 8), nullptr, 16) & 0x7fffffffu);
}

std::string step_digest(const EndpointToken& t) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  j.push_back(sha256_hex(t.token.data(), t.token.size()));
  uint64_t bits = 0;
  std::memcpy(&bits, &t.logprob, sizeof bits);
  j.push_back(bits);
  for (const auto& [text, logprob] : t.top) {
    std::memcpy(&bits, &logprob, sizeof bits);
    j.push_back(nlohmann::ordered_json::array({sha256_hex(text.data(), text.size()), bits}));
  }
  const std::string s = j.dump();
  return sha256_hex(s.data(), s.size());
}

const char* const kWords[] = {"river", "seven", "glass", "north", "quietly", "market", "under", "blue",
                              "the", "of", "winter", "ledger", "copper", "answer", "why", "lamp"};

}  // namespace

std::string random_words(std::mt19937_64& rng, int64_t words) {
  std::string text;
  for (int64_t w = 0; w < words; ++w) text += std::string(w ? " " : "") + kWords[rng() % std::size(kWords)];
  return text;
}

namespace {

// Filler k of run `run` of case `c`: seeded random words, random length, every fourth sampled.
struct Filler {
  SuiteCase request;
  int64_t max_tokens;
  SamplingOptions sampling;
};
Filler make_filler(uint64_t key, int64_t k, int64_t case_tokens) {
  std::mt19937_64 rng(key + static_cast<uint64_t>(k));
  Filler f;
  f.request.id = "filler";
  f.request.chat = true;
  f.request.prompt = random_words(rng, 1 + static_cast<int64_t>(rng() % 24));
  f.max_tokens = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(std::max<int64_t>(16, 2 * case_tokens)));
  if (k % 4 == 3) {
    f.sampling.temperature = 0.7;
    f.sampling.seed = rng() % 1000000;
  }
  return f;
}

}  // namespace

EndpointAnswer send_with_fillers(const EndpointClient& client, const SuiteCase& c, int64_t max_tokens, int64_t n,
                                 uint64_t key, const std::string& what) {
  std::vector<Filler> fillers;
  for (int64_t k = 0; k < n; ++k) fillers.push_back(make_filler(key, k, max_tokens));
  EndpointAnswer answer;
  std::vector<std::exception_ptr> errors(fillers.size() + 1);
  std::vector<std::thread> threads;
  for (size_t k = 0; k <= fillers.size(); ++k) {
    threads.emplace_back([&, k] {
      try {
        if (k == fillers.size()) {
          answer = client.generate(c, max_tokens, SamplingOptions{}, /*logprobs=*/true);
        } else {
          client.generate(fillers[k].request, fillers[k].max_tokens, fillers[k].sampling, false);
        }
      } catch (...) {
        errors[k] = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t k = 0; k < errors.size(); ++k) {
    if (!errors[k]) continue;
    try {
      std::rethrow_exception(errors[k]);
    } catch (const Error& e) {
      throw Error(e.kind(), fmt::format("{}{}: {}", what, k == fillers.size() ? "" : fmt::format(" (filler {})", k + 1),
                                        e.what()));
    }
  }
  return answer;
}

constexpr kernels::Named<EndpointLevel> kEndpointLevels[] = {
    {EndpointLevel::bits, "bits"}, {EndpointLevel::logprobs, "logprobs"}, {EndpointLevel::tokens, "tokens"}};

const char* to_string(EndpointLevel level) { return kernels::name_of(kEndpointLevels, level, "?"); }

EndpointLevel parse_endpoint_level(const std::string& name) {
  if (const EndpointLevel* level = kernels::value_of(kEndpointLevels, name)) return *level;
  throw bad_input("--endpoint-level must be bits, logprobs or tokens (or left out: the best the server allows)");
}

RunRecord record_at(const EndpointAnswer& a, EndpointLevel level) {
  RunRecord r;
  if (a.record) {
    r = *a.record;
    if (level != EndpointLevel::bits) r.step_logits_sha256.assign(r.output_ids.size(), "");
    if (level == EndpointLevel::logprobs && !a.tokens.empty()) {
      for (size_t i = 0; i < a.tokens.size() && i < r.step_logits_sha256.size(); ++i) {
        r.step_logits_sha256[i] = step_digest(a.tokens[i]);
      }
    }
    return r;
  }
  if (level == EndpointLevel::bits) {
    throw bad_input("the server returns no lockstep record (only `lockstep serve` does): compare at "
                    "--endpoint-level logprobs or tokens");
  }
  r.stop_reason = a.finish_reason;
  r.duration_s = a.seconds;
  if (a.tokens.empty()) {   // the text is all there is: one step
    if (level == EndpointLevel::logprobs) {
      throw bad_input("the server returned no logprobs: compare at --endpoint-level tokens");
    }
    r.output_ids.push_back(token_id(a.text));
    r.step_logits_sha256.push_back("");
  } else {
    for (const EndpointToken& t : a.tokens) {
      r.output_ids.push_back(token_id(t.token));
      r.step_logits_sha256.push_back(level == EndpointLevel::logprobs ? step_digest(t) : "");
    }
  }
  r.ids_sha256 = ids_sha256(r.output_ids);
  return r;
}

EndpointLevel level_for(const EndpointAnswer& a, std::optional<EndpointLevel> asked) {
  return asked ? *asked : a.record ? EndpointLevel::bits : !a.tokens.empty() ? EndpointLevel::logprobs
                                                                            : EndpointLevel::tokens;
}

std::string describe_level(EndpointLevel level, const EndpointAnswer& a) {
  return fmt::format("level {} ({})", to_string(level),
                     a.record ? "the server returns lockstep's record"
                     : a.tokens.empty() ? "the server returns no logprobs" : "the server returns logprobs");
}

RunResult compare_answer(const RunRecord& reference, const EndpointAnswer& reference_answer, const EndpointAnswer& a,
                         const RunRecord& record, std::string label, RunKind kind) {
  RunResult r;
  r.label = std::move(label);
  r.kind = kind;
  r.duration_s = a.seconds;
  r.first_divergence = first_divergence(reference, record);
  r.match = !r.first_divergence;
  if (!a.step_batch.empty()) {
    BatchPlace place;
    place.sizes = a.step_batch;
    place.rows = a.step_row;
    r.batch = place;
  }
  if (r.first_divergence) {
    Divergence& d = *r.first_divergence;
    const auto text_at = [&](const EndpointAnswer& x) {
      return d.step < static_cast<int64_t>(x.tokens.size()) ? x.tokens[d.step].token : std::string();
    };
    d.expected_text = text_at(reference_answer);
    d.actual_text = text_at(a);
  }
  return r;
}

void adopt_environment(VerifyResults& results, const EndpointAnswer& a) {
  if (!a.environment || !results.environment.lockstep_version.empty()) return;
  results.environment = *a.environment;
  if (!a.model_sha256.empty()) results.model.file_sha256 = a.model_sha256;
}

void note_server(VerifyResults& results, const ServerIdentity& id) {
  if (results.environment.lockstep_version.empty()) {   // not lockstep serve: nothing is known of its kernels
    results.environment.mode = "unknown";
    results.environment.device = "endpoint";
    results.environment.dtype = "unknown";
  }
  results.environment.server = id.description;
}

namespace {

class EndpointVerifier {
 public:
  EndpointVerifier(const EndpointVerifyPlan& plan, const Progress& progress)
      : plan_(plan), progress_(progress), client_(plan.endpoint) {}

  VerifyResults run() {
    const auto start = std::chrono::steady_clock::now();
    results_.started_at = utc_timestamp_now();
    const ServerIdentity id = client_.identify();
    progress_("verify: endpoint " + id.description);
    start_results(results_, plan_.suite);
    results_.runs = plan_.runs;
    results_.processes = 0;
    results_.model = ModelIdentity{id.url, id.model, id.model_sha256};
    results_.batch_rounds = {fmt::format("concurrent-{}", plan_.fillers)};
    references_.resize(plan_.suite.cases.size());
    for (int64_t run = 1; run <= plan_.runs; ++run) {
      for (size_t i = 0; i < plan_.suite.cases.size(); ++i) one_run(i, run);
    }
    if (plan_.workers > 0) stress();
    note_server(results_, id);
    results_.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::move(results_);
  }

 private:
  void one_run(size_t i, int64_t run) {
    const SuiteCase& c = plan_.suite.cases[i];
    const EndpointAnswer a = send_with_fillers(client_, c, c.max_new_tokens, plan_.fillers,
                                               plan_.seed * 1000003 + i * 7919 + static_cast<uint64_t>(run) * 131,
                                               fmt::format("case '{}' run {}", c.id, run));
    if (!level_) {
      level_ = level_for(a, plan_.level);
      progress_("verify: comparing at " + describe_level(*level_, a));
    }
    adopt_environment(results_, a);
    const RunRecord record = record_at(a, *level_);
    CaseResult& result = results_.cases[i];
    const int64_t largest = a.step_batch.empty() ? 0 : *std::max_element(a.step_batch.begin(), a.step_batch.end());
    for (int64_t b : a.step_batch) ++results_.batch_sizes[b];
    const std::string where = fmt::format("verify: case {}/{} '{}' run {}/{} (with {} concurrent fillers{})", i + 1,
                                          plan_.suite.cases.size(), c.id, run, plan_.runs, plan_.fillers,
                                          largest ? fmt::format(", steps in batches up to {}", largest) : "");
    if (run == 1) {
      result.reference = record;
      result.text = a.text;
      references_[i] = a;
      progress_(fmt::format("{} ... reference, {} tokens {:.1f}s", where, record.output_ids.size(), a.seconds));
      return;
    }
    RunResult r = compared(i, a, record, fmt::format("concurrent-{}", run), RunKind::batch);
    progress_(fmt::format("{} ... {}", where, r.match ? "same" : "DIFFERS: " + describe(*r.first_divergence)));
    result.runs.push_back(std::move(r));
  }

  RunResult compared(size_t i, const EndpointAnswer& a, const RunRecord& record, std::string label, RunKind kind) const {
    return compare_answer(results_.cases[i].reference, references_[i], a, record, std::move(label), kind);
  }

  // stress --endpoint: plan_.workers requests, plan_.threads in flight, each against its reference.
  void stress() {
    const size_t n = plan_.suite.cases.size();
    const int64_t threads = std::min(plan_.threads, plan_.workers);
    const int64_t step = std::max<int64_t>(1, plan_.workers / 10);
    const auto start = std::chrono::steady_clock::now();
    std::atomic<int64_t> next{0}, done{0}, differing{0};
    std::mutex mutex;
    std::exception_ptr failure;
    int64_t largest = 0;
    progress_(fmt::format("stress: {} requests, {} at a time", plan_.workers, threads));
    const auto work = [&] {
      try {
        for (int64_t w; (w = next++) < plan_.workers;) {
          const size_t i = static_cast<size_t>(w) % n;
          const SuiteCase& c = plan_.suite.cases[i];
          const EndpointAnswer a = client_.generate(c, c.max_new_tokens, SamplingOptions{}, /*logprobs=*/true);
          RunResult r = compared(i, a, record_at(a, *level_), fmt::format("worker-{}", w + 1), RunKind::thread);
          if (!r.match) ++differing;
          const int64_t finished = ++done;
          std::lock_guard<std::mutex> lock(mutex);
          for (int64_t b : a.step_batch) {
            ++results_.batch_sizes[b];
            largest = std::max(largest, b);
          }
          results_.cases[i].runs.push_back(std::move(r));
          if (finished % step == 0 || finished == plan_.workers) {
            progress_(fmt::format("stress: {}/{} requests done, {} differ{}, {:.1f}s", finished, plan_.workers,
                                  differing.load(), largest ? fmt::format(", largest step batch {}", largest) : "",
                                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
          }
        }
      } catch (const Error& e) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::make_exception_ptr(Error(e.kind(), std::string("stress: ") + e.what()));
        next = plan_.workers;   // the others stop claiming work
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        next = plan_.workers;
      }
    };
    std::vector<std::thread> pool;
    for (int64_t t = 0; t < threads; ++t) pool.emplace_back(work);
    for (std::thread& t : pool) t.join();
    if (failure) std::rethrow_exception(failure);
  }

  const EndpointVerifyPlan& plan_;
  const Progress& progress_;
  EndpointClient client_;
  VerifyResults results_;
  std::optional<EndpointLevel> level_;
  std::vector<EndpointAnswer> references_;
};

}  // namespace

VerifyResults run_endpoint_verify(const EndpointVerifyPlan& plan, const Progress& progress) {
  if (plan.runs < (plan.workers > 0 ? 1 : 2)) {
    throw bad_input("--runs must be at least 2 with --endpoint (the first run is the reference)");
  }
  if (plan.workers > 0 && plan.threads < 1) throw bad_input("--threads must be at least 1");
  if (plan.fillers < 1) throw bad_input("--fillers must be at least 1: a run against a server is never solo alone");
  return EndpointVerifier(plan, progress).run();
}

}  // namespace lockstep::harness

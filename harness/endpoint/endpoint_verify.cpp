#include "harness/endpoint/endpoint_verify.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
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
  const int64_t words = 1 + static_cast<int64_t>(rng() % 24);
  for (int64_t w = 0; w < words; ++w) f.request.prompt += std::string(w ? " " : "") + kWords[rng() % std::size(kWords)];
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

const char* to_string(EndpointLevel level) {
  switch (level) {
    case EndpointLevel::bits: return "bits";
    case EndpointLevel::logprobs: return "logprobs";
    case EndpointLevel::tokens: return "tokens";
  }
  return "?";
}

EndpointLevel parse_endpoint_level(const std::string& name) {
  for (EndpointLevel l : {EndpointLevel::bits, EndpointLevel::logprobs, EndpointLevel::tokens}) {
    if (name == to_string(l)) return l;
  }
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
    results_.suite_name = plan_.suite.name;
    results_.suite_path = plan_.suite.path;
    results_.runs = plan_.runs;
    results_.processes = 0;
    results_.model = ModelIdentity{id.url, id.model, id.model_sha256};
    results_.batch_rounds = {fmt::format("concurrent-{}", plan_.fillers)};
    for (const SuiteCase& c : plan_.suite.cases) {
      CaseResult r;
      r.id = c.id;
      r.prompt = c.prompt;
      r.chat = c.chat;
      r.max_new_tokens = c.max_new_tokens;
      r.tier = c.tier;
      results_.cases.push_back(std::move(r));
    }
    references_.resize(plan_.suite.cases.size());
    for (int64_t run = 1; run <= plan_.runs; ++run) {
      for (size_t i = 0; i < plan_.suite.cases.size(); ++i) one_run(i, run);
    }
    if (results_.environment.lockstep_version.empty()) {   // not lockstep serve: nothing is known of its kernels
      results_.environment.mode = "unknown";
      results_.environment.device = "endpoint";
      results_.environment.dtype = "unknown";
    }
    results_.environment.server = id.description;
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
      level_ = plan_.level ? *plan_.level
               : a.record  ? EndpointLevel::bits
               : !a.tokens.empty() ? EndpointLevel::logprobs
                                   : EndpointLevel::tokens;
      progress_(fmt::format("verify: comparing at level {} ({})", to_string(*level_),
                            a.record ? "the server returns lockstep's record"
                            : a.tokens.empty() ? "the server returns no logprobs" : "the server returns logprobs"));
    }
    if (a.environment && !results_.environment.lockstep_version.size()) {
      results_.environment = *a.environment;
      if (!a.model_sha256.empty()) results_.model.file_sha256 = a.model_sha256;
    }
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
    RunResult r;
    r.label = fmt::format("concurrent-{}", run);
    r.kind = RunKind::batch;
    r.duration_s = a.seconds;
    r.first_divergence = first_divergence(result.reference, record);
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
      d.expected_text = text_at(references_[i]);
      d.actual_text = text_at(a);
    }
    progress_(fmt::format("{} ... {}", where, r.match ? "same" : "DIFFERS: " + describe(*r.first_divergence)));
    result.runs.push_back(std::move(r));
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
  if (plan.runs < 2) throw bad_input("--runs must be at least 2 with --endpoint (the first run is the reference)");
  if (plan.fillers < 1) throw bad_input("--fillers must be at least 1: a run against a server is never solo alone");
  return EndpointVerifier(plan, progress).run();
}

}  // namespace lockstep::harness

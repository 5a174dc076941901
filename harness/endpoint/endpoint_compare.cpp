#include "harness/endpoint/endpoint_compare.h"

#include <map>
#include <random>

#include <fmt/format.h>

#include "core/error.h"
#include "core/util/sha256.h"
#include "harness/endpoint/endpoint_verify.h"

namespace lockstep::harness {

nlohmann::ordered_json run_endpoint_compare(const EndpointCompareSettings& s,
                                            const std::function<void(const std::string&)>& progress) {
  if (s.runs < 2) throw bad_input("--runs must be at least 2");
  if (s.max_fillers < 1) throw bad_input("--max-batch must be at least 2 with --endpoint (the target and >= 1 filler)");
  if (s.max_tokens < 1) throw bad_input("--decode-tokens must be at least 1 with --endpoint");
  EndpointClient client(s.endpoint);
  const ServerIdentity id = client.identify();
  progress("compare: endpoint " + id.description);
  std::mt19937_64 rng(s.seed);
  std::map<EndpointLevel, std::map<std::string, int64_t>> counts;
  bool has_logprobs = true, has_bits = true;
  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  for (int64_t r = 0; r < s.runs; ++r) {
    const int64_t fillers = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(s.max_fillers));
    const EndpointAnswer a = send_with_fillers(client, s.target, s.max_tokens, fillers, rng(), fmt::format("run {}", r + 1));
    has_logprobs = has_logprobs && (!a.tokens.empty());
    has_bits = has_bits && a.record.has_value();
    nlohmann::ordered_json run{{"fillers", fillers}};
    for (EndpointLevel level : {EndpointLevel::tokens, EndpointLevel::logprobs, EndpointLevel::bits}) {
      if ((level == EndpointLevel::logprobs && !has_logprobs) || (level == EndpointLevel::bits && !has_bits)) continue;
      const RunRecord rec = record_at(a, level);
      std::string all = rec.ids_sha256;
      for (const std::string& d : rec.step_logits_sha256) all += d;
      const std::string digest = level == EndpointLevel::tokens && rec.output_ids.size() == 1 && a.tokens.empty()
                                     ? sha256_hex(a.text)   // a server without logprobs: its text
                                     : sha256_hex(all);
      ++counts[level][digest];
      run[to_string(level)] = digest;
    }
    if (!a.step_batch.empty()) run["largest_step_batch"] = *std::max_element(a.step_batch.begin(), a.step_batch.end());
    runs.push_back(std::move(run));
    if ((r + 1) % std::max<int64_t>(1, s.runs / 10) == 0 || r + 1 == s.runs) {
      progress(fmt::format("compare: {}/{} runs, {} unique texts so far", r + 1, s.runs, counts[EndpointLevel::tokens].size()));
    }
  }
  nlohmann::ordered_json unique;
  const EndpointLevel best = has_bits ? EndpointLevel::bits : has_logprobs ? EndpointLevel::logprobs : EndpointLevel::tokens;
  for (EndpointLevel level : {EndpointLevel::tokens, EndpointLevel::logprobs, EndpointLevel::bits}) {
    const bool available = level == EndpointLevel::tokens || (level == EndpointLevel::logprobs ? has_logprobs : has_bits);
    unique[to_string(level)] = available ? nlohmann::ordered_json(counts[level].size()) : nlohmann::ordered_json(nullptr);
  }
  return {{"schema", "lockstep.compare-endpoint/0"},
          {"server", id.description},
          {"target", {{"prompt", s.target.prompt}, {"chat", s.target.chat}}},
          {"settings", {{"runs", s.runs}, {"max_fillers", s.max_fillers}, {"max_tokens", s.max_tokens}, {"seed", s.seed}}},
          {"unique", unique},
          {"best_level", to_string(best)},
          {"verdict", counts[best].size() == 1 ? "pass" : "fail"},
          {"runs", runs}};
}

}  // namespace lockstep::harness

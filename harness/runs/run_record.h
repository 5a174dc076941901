// What one run of one case produced, reduced to what determinism is judged
// on: the token ids and a SHA-256 of every step's raw fp32 logits. Two runs
// match when both are equal; first_divergence() says where they part.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lockstep { struct Generation; }

namespace lockstep::harness {

struct RunRecord {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> output_ids;
  std::string ids_sha256;                        // of output_ids as int32 little-endian bytes
  std::vector<std::string> step_logits_sha256;   // one per generated token
  std::string stop_reason;
  double duration_s = 0.0;
  // Each step's top candidates (id, raw fp32 logit); empty in files written
  // before they were recorded. Not compared: the digests decide.
  std::vector<std::vector<std::pair<int32_t, float>>> step_top;
};

// SHA-256 (lower-case hex) of the ids as int32 little-endian bytes.
std::string ids_sha256(const std::vector<int32_t>& ids);

RunRecord record_of(const Generation& generation, double duration_s);

// The first step at which `actual` departs from `expected`. `reason` says
// what differed first: "prompt" (different input ids; step 0), "logits"
// (a step's digest), "token" (same logits digest, different token: only
// possible if the decoder itself is nondeterministic) or "length" (one run
// stopped earlier; the missing side's digest is "" and token is empty).
struct Divergence {
  int64_t step = 0;
  std::string reason;
  std::string expected_sha256;
  std::string actual_sha256;
  std::optional<int32_t> expected_token;
  std::optional<int32_t> actual_token;
  std::string expected_text;   // the tokens decoded, filled in by callers with a tokenizer
  std::string actual_text;
  // The divergent step's top candidates on each side (when recorded), and
  // the largest ULP distance between the two sides' logits of a token in
  // both lists (0: the candidates' logits agree bit for bit).
  std::vector<std::pair<int32_t, float>> expected_top, actual_top;
  std::vector<std::string> expected_top_text, actual_top_text;   // filled in by callers
  std::optional<int64_t> max_ulp;
};

// Distance in units in the last place between two finite floats (the number
// of representable floats between them); nullopt if either is not finite.
std::optional<int64_t> ulp_distance(float a, float b);

std::optional<Divergence> first_divergence(const RunRecord& expected, const RunRecord& actual);

// One line for people: "step 3: logits sha256 1a2b3c4d… != 5e6f7a8b…, token 42 ' Paris' vs 17 ' Lyon'".
std::string describe(const Divergence& divergence);

// JSON forms (the worker protocol and results.json use them). from_json
// throws bad_input for a missing or mistyped field.
void to_json(nlohmann::ordered_json& out, const RunRecord& record);
void from_json(const nlohmann::ordered_json& in, RunRecord& record);
void to_json(nlohmann::ordered_json& out, const Divergence& divergence);
void from_json(const nlohmann::ordered_json& in, Divergence& divergence);

}  // namespace lockstep::harness

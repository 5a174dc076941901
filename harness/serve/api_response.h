// The JSON lockstep's OpenAI-compatible API answers with: errors, the
// logprobs blocks of both endpoints, and the `lockstep` vendor field that
// makes an HTTP answer checkable bit for bit against golden proofs (the
// request's prompt and output ids, every step's raw-logits SHA-256, the
// batch each step ran in, and the environment and model identity a golden
// comparison needs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/engine/generate.h"
#include "harness/env.h"
#include "harness/serve/api_request.h"

namespace lockstep {
class Tokenizer;
}

namespace lockstep::serve {

using json = nlohmann::ordered_json;

inline constexpr const char* kRecordSchema = "lockstep.serve/1";

// What every answer records about where it ran.
struct Identity {
  std::string served_name;      // the id /v1/models lists
  std::string model_path;
  std::string model_sha256;     // core/engine/model_bundle.h model_sha256()
  harness::Environment environment;
};

// {"error": {"message", "type", "param", "code"}}.
json error_body(const ApiError& error);

// The logprobs of one choice's steps from `from` on, in the endpoint's form:
// completions {"tokens", "token_logprobs", "top_logprobs", "text_offset"},
// chat {"content": [{"token", "logprob", "bytes", "top_logprobs"}]}.
// `offset`: the text length before the first of them (completions' text_offset).
json logprobs_json(ApiRequest::Kind kind, const Tokenizer& tokenizer,
                   const std::vector<StepLogprobs>& steps, size_t offset = 0);

// One choice's `lockstep` record: its index, RNG stream, the run record
// (harness/runs/run_record.h: prompt and output ids, ids SHA-256, per-step logits
// SHA-256, stop reason, top candidates, seconds from submit to the end) and
// each step's batch size and the request's row in it.
json choice_record(int64_t index, uint64_t stream, const Generation& generation, double duration_s);

// The `lockstep` vendor field around choice records.
json lockstep_field(const Identity& identity, json choices);

// OpenAI's finish_reason for lockstep's stop reason.
const char* finish_reason(const std::string& stop_reason);

}  // namespace lockstep::serve

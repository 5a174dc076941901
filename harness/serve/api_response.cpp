#include "harness/serve/api_response.h"

#include "core/tokenizer/tokenizer.h"
#include "harness/proofs/proof.h"
#include "harness/runs/run_record.h"

namespace lockstep::serve {

json error_body(const ApiError& error) {
  const char* code = error.status == 401 ? "invalid_api_key"
                     : error.status == 404 ? "not_found"
                     : error.status == 413 ? "request_too_large"
                     : error.status == 429 ? "rate_limit_exceeded"
                     : error.status >= 500 ? "server_error"
                                           : "invalid_request";
  json e{{"message", error.what()}, {"type", error.type}, {"param", nullptr}, {"code", code}};
  if (!error.param.empty()) e["param"] = error.param;
  return json{{"error", std::move(e)}};
}

namespace {

json bytes_of(const std::string& raw) {
  json out = json::array();
  for (unsigned char c : raw) out.push_back(c);
  return out;
}

}  // namespace

json logprobs_json(ApiRequest::Kind kind, const Tokenizer& tokenizer,
                   const std::vector<StepLogprobs>& steps, size_t offset) {
  if (kind == ApiRequest::Kind::chat) {
    json content = json::array();
    for (const StepLogprobs& s : steps) {
      const std::string raw = tokenizer.decode_token(s.chosen.id);
      json top = json::array();
      for (const TokenLogprob& t : s.top) {
        const std::string r = tokenizer.decode_token(t.id);
        top.push_back(json{{"token", harness::valid_utf8(r)}, {"logprob", t.logprob}, {"bytes", bytes_of(r)}});
      }
      content.push_back(json{{"token", harness::valid_utf8(raw)}, {"logprob", s.chosen.logprob},
                             {"bytes", bytes_of(raw)}, {"top_logprobs", std::move(top)}});
    }
    return json{{"content", std::move(content)}};
  }
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(), offsets = json::array();
  for (const StepLogprobs& s : steps) {
    const std::string raw = tokenizer.decode_token(s.chosen.id);
    tokens.push_back(harness::valid_utf8(raw));
    token_logprobs.push_back(s.chosen.logprob);
    json top = json::object();
    for (const TokenLogprob& t : s.top) top[harness::valid_utf8(tokenizer.decode_token(t.id))] = t.logprob;
    top_logprobs.push_back(std::move(top));
    offsets.push_back(offset);
    offset += raw.size();
  }
  return json{{"tokens", std::move(tokens)}, {"token_logprobs", std::move(token_logprobs)},
              {"top_logprobs", std::move(top_logprobs)}, {"text_offset", std::move(offsets)}};
}

json choice_record(int64_t index, uint64_t stream, const Generation& generation, double duration_s) {
  json record;
  harness::to_json(record, harness::record_of(generation, duration_s));
  json batch = json::array(), row = json::array();
  for (const StepPlace& p : generation.step_places) {
    batch.push_back(p.batch);
    row.push_back(p.row);
  }
  return json{{"index", index},          {"rng_stream", stream},        {"record", std::move(record)},
              {"step_batch", std::move(batch)}, {"step_row", std::move(row)}};
}

json lockstep_field(const Identity& identity, json choices) {
  json environment;
  harness::to_json(environment, identity.environment);
  return json{{"schema", kRecordSchema}, {"model", identity.served_name}, {"model_sha256", identity.model_sha256},
              {"environment", std::move(environment)}, {"choices", std::move(choices)}};
}

const char* finish_reason(const std::string& stop_reason) {
  return stop_reason == "max_tokens" ? "length" : "stop";
}

}  // namespace lockstep::serve

// The requests of lockstep's OpenAI-compatible API (POST /v1/completions and
// /v1/chat/completions), parsed and checked before anything runs. Strict on
// purpose: an unknown field, a wrong type, a value out of range or an option
// lockstep does not implement (penalties, logit_bias, echo, tools, ...) is an
// ApiError (HTTP 400), never silently ignored, since a request that was not
// run as written cannot be reproduced as written. Null counts as absent.
//
// Differences from OpenAI's defaults, on purpose: a request without
// `temperature` is greedy (OpenAI's default is 1); sampling (temperature > 0)
// needs a `seed`; `n` > 1 draws each choice from its own RNG stream (choice
// i uses stream i of the seed), so the choices differ but each one is
// reproducible alone.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/chat_template.h"

namespace lockstep::serve {

// An error the client caused or must see: HTTP status, OpenAI error type, the field at fault.
struct ApiError : std::runtime_error {
  ApiError(int status, std::string message, std::string param = {}, std::string type = "invalid_request_error")
      : std::runtime_error(std::move(message)), status(status), param(std::move(param)), type(std::move(type)) {}
  int status;
  std::string param;
  std::string type;
};

struct ApiLimits {
  int64_t max_tokens = 4096;       // the largest max_tokens a request may ask for
  int64_t max_n = 16;              // choices per request
  int64_t max_stops = 4;           // stop strings per request (OpenAI: 4)
  size_t max_prompt_bytes = 1 << 20;
};

struct ApiRequest {
  enum class Kind { completion, chat };
  Kind kind = Kind::completion;
  std::string model;                        // empty when not given
  // completion: the prompt as text, or as token ids
  std::optional<std::string> prompt_text;
  std::vector<int32_t> prompt_ids;
  // chat
  std::vector<ChatMessage> messages;
  std::optional<int64_t> max_tokens;        // absent: completion 16, chat up to the context and limit
  double temperature = 0.0;
  double top_p = 1.0;
  int64_t top_k = 0;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  int64_t n = 1;
  bool stream = false;
  bool include_usage = false;               // stream_options.include_usage
  // -1: none; else the number of top candidates per token (0..20), the
  // chosen token's logprob always included.
  int64_t logprobs = -1;
  bool ignore_eos = false;                  // vLLM's extension: generate max_tokens tokens
};

// Throw ApiError (400) for everything a request may get wrong; the JSON
// text itself may be anything (the fuzz target feeds it raw bytes).
ApiRequest parse_completion_request(std::string_view body, const ApiLimits& limits = {});
ApiRequest parse_chat_request(std::string_view body, const ApiLimits& limits = {});

}  // namespace lockstep::serve

// A client of any OpenAI-compatible server (lockstep serve, vLLM, SGLang,
// llama.cpp's llama-server, transformers serve): one request per call, over
// cpp-httplib, with the errors a user needs — a server that is down or too
// slow (environment_error), one that refuses the request or answers with
// something that is not an OpenAI answer (bad_input, naming the server and
// quoting its answer), rate limits (retried after Retry-After, then an error).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/generate.h"
#include "core/error.h"
#include "harness/env.h"
#include "harness/runs/run_record.h"
#include "harness/suite.h"

namespace lockstep::harness {

struct EndpointOptions {
  std::string url;          // base URL, "http://127.0.0.1:8000" (a trailing /v1 is dropped)
  std::string api_key;      // sent as "Authorization: Bearer <key>" when set
  std::string model;        // sent as "model" in every request; "": the first id of /v1/models, if any
  int timeout_s = 600;      // per request
  int retries = 3;          // on 429 / 503
};

// One generated token as the server reported it in `logprobs`.
struct EndpointToken {
  std::string token;                                  // its text (chat: bytes when given)
  double logprob = 0.0;
  std::vector<std::pair<std::string, double>> top;    // the top candidates, in the server's order
};

struct EndpointAnswer {
  std::string text;
  std::string finish_reason;
  std::vector<EndpointToken> tokens;      // empty: the server returned no logprobs
  // lockstep serve's record (harness/serve/README.md): ids and every step's logits SHA-256.
  std::optional<RunRecord> record;
  std::vector<int64_t> step_batch, step_row;
  std::optional<Environment> environment;
  std::string model_sha256;
  double seconds = 0.0;
};

struct ServerIdentity {
  std::string url;
  std::string model;            // the first id of /v1/models ("" when it fails or lists none)
  std::string description;      // one line: URL, model, the headers that name the server
  std::string model_sha256;     // lockstep serve only
};

// The API key held by the environment variable `variable` (`--api-key-env`;
// never on the command line): bad_input if it is unset or empty.
inline std::string api_key_from_env(const std::string& variable) {
  const char* key = std::getenv(variable.c_str());
  if (key == nullptr || *key == '\0') throw bad_input("--api-key-env " + variable + ": that environment variable is not set or empty");
  return key;
}

class EndpointClient {
 public:
  explicit EndpointClient(EndpointOptions options);
  const EndpointOptions& options() const { return options_; }
  // GET /v1/models (and the response headers that name the server). A
  // server whose /v1/models fails (transformers serve answers 500 for a
  // local folder) is still identified by URL and headers, the failure
  // noted; a server that does not answer at all is an environment_error.
  // Unless --endpoint-model named one, requests then name the listed model.
  ServerIdentity identify();
  // The case's prompt as a chat message (case.chat) or raw text, greedy
  // (temperature 0) unless `sampling` samples, `max_tokens` tokens, with
  // logprobs (5 top candidates) when asked.
  EndpointAnswer generate(const SuiteCase& request, int64_t max_tokens, const SamplingOptions& sampling,
                          bool logprobs) const;

 private:
  EndpointOptions options_;
};

}  // namespace lockstep::harness

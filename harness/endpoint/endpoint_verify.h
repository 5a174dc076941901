// `verify --endpoint URL`: the determinism check against a running
// OpenAI-compatible server. The batch variable becomes concurrency: every
// run of every case (the reference included: never solo alone) is sent
// together with `fillers` seeded random requests of random lengths, and
// every run is compared with the first at the level the server allows:
//   bits      lockstep serve's record: the token ids and every step's raw
//             logits SHA-256 (as in-process; goldens compare too)
//   logprobs  the returned logprobs of the chosen and top candidates, exact
//             (each step's "digest" is the SHA-256 of its token bytes,
//             logprob and candidates, the numbers as the server's doubles)
//   tokens    the returned tokens (their text), or the whole text when the
//             server returns no logprobs
// Servers return text, not ids: below the bits level a step's id in the
// records is the first 31 bits of the SHA-256 of its token's bytes.
#pragma once

#include <optional>
#include <random>
#include <string>

#include "harness/endpoint/client.h"
#include "harness/results/results.h"
#include "harness/suite.h"
#include "harness/runs/verifier.h"

namespace lockstep::harness {

enum class EndpointLevel { bits, logprobs, tokens };
const char* to_string(EndpointLevel level);
EndpointLevel parse_endpoint_level(const std::string& name);   // bad_input otherwise

// `words` seeded random words separated by spaces (filler and sweep prompts).
std::string random_words(std::mt19937_64& rng, int64_t words);

// `c` answered with `fillers` concurrent seeded requests (random words, random lengths, every
// fourth sampled; `key` seeds them), all sent at once; the answer for `c`, with logprobs. An error
// of any of them is thrown, prefixed with `what`.
EndpointAnswer send_with_fillers(const EndpointClient& client, const SuiteCase& c, int64_t max_tokens, int64_t fillers,
                                 uint64_t key, const std::string& what);

// The record of one answer at `level` (bad_input for bits without a lockstep record).
RunRecord record_at(const EndpointAnswer& answer, EndpointLevel level);

// The level to compare `first` answers at: `asked`, else the best the answer allows.
EndpointLevel level_for(const EndpointAnswer& first, std::optional<EndpointLevel> asked);
// One line on why: "level bits (the server returns lockstep's record)".
std::string describe_level(EndpointLevel level, const EndpointAnswer& first);

// Answer `a` (its `record` at the level) as a run against `reference` (answered as
// `reference_answer`): match, first divergence with the token texts, step batches.
RunResult compare_answer(const RunRecord& reference, const EndpointAnswer& reference_answer, const EndpointAnswer& a,
                         const RunRecord& record, std::string label, RunKind kind);
// The results' environment from the first answer that carries lockstep's record.
void adopt_environment(VerifyResults& results, const EndpointAnswer& a);
// At the end of a run: a server that is not lockstep serve has mode, device and dtype
// "unknown"/"endpoint"; environment.server is `id`'s description.
void note_server(VerifyResults& results, const ServerIdentity& id);

struct EndpointVerifyPlan {
  Suite suite;
  EndpointOptions endpoint;
  int64_t runs = 3;
  int64_t fillers = 8;          // concurrent requests beside each run of each case
  uint64_t seed = 0;            // of the fillers
  std::optional<EndpointLevel> level;   // none: the best the server allows
  // stress --endpoint: after the references, `workers` requests (case w % cases), `threads` of
  // them in flight at once, each compared with its case's reference (runs "worker-N", kind thread).
  int64_t workers = 0;
  int64_t threads = 8;
};

VerifyResults run_endpoint_verify(const EndpointVerifyPlan& plan, const Progress& progress);

}  // namespace lockstep::harness

// The outcome of `lockstep verify`, and its file form results.json (schema
// "lockstep.results/0", documented field by field in harness/RESULTS.md).
// The reference run of each case is the case's own record; every other run
// is compared against it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "harness/env.h"
#include "harness/runs/run_record.h"
#include "harness/suite.h"

namespace lockstep::harness {

inline constexpr const char* kResultsSchema = "lockstep.results/0";

enum class RunKind { in_process, reload, process, thread, batch };
// "in-process", "reload", "process", "thread" (a concurrent stress worker),
// "batch" (co-batched with other requests in one engine: a batch plan's round, a sweep's batch)
const char* to_string(RunKind kind);

// A request that shared at least one step with a co-batched case.
struct Neighbour {
  std::string request;          // "case haiku", "filler"
  int64_t prompt_tokens = 0;
  int64_t new_tokens = 0;       // tokens it generated
  std::string sampling;         // describe(SamplingOptions): "greedy", "temperature 0.7, ..."
  int64_t first_step = 0;       // its first and last token's engine step, counted from
  int64_t last_step = 0;        // the case's first token's step (negative: before it)
};

// Where a co-batched run of a case decoded: for each of its tokens, the
// number of sequences in that engine step and the case's row among them.
struct BatchPlace {
  std::vector<int64_t> sizes;
  std::vector<int64_t> rows;
  bool joined_running = false;     // admitted while a neighbour was already decoding
  bool joined_by_others = false;   // a neighbour was admitted while this case was decoding
  std::vector<Neighbour> neighbours;
  bool has_sampling_neighbour() const;
};

// Where a co-batched run first parted from the solo reference inside the
// model (harness/runs/localise.h): both re-run with activation digests.
struct ActivationDivergence {
  bool found = false;          // an activation differs (else see `what`)
  int64_t position = 0;        // token position; step = position + 1 - prompt tokens (< 0: the prompt)
  int64_t step = 0;
  int64_t layer = 0;           // -1: embedding; the layer count: final norm and logits
  std::string op;
  std::string expected_sha256, actual_sha256;
  std::string what;            // one sentence for people
};

struct RunResult {
  std::string label;   // "run-2", "process-1"
  RunKind kind = RunKind::in_process;
  bool match = false;
  double duration_s = 0.0;
  std::optional<Divergence> first_divergence;
  std::string error;   // non-empty when the run produced no record (a crashed worker)
  std::optional<BatchPlace> batch;   // runs through the batching engine with others
  std::optional<ActivationDivergence> first_divergent_activation;   // co-batched failures, when localised
};

// " in a batch of 8 (row 3)": where a co-batched run's divergent step ran
// ("" for a solo run, no divergence, or a step past the recorded ones).
std::string where_in_batch(const RunResult& run);

struct CaseResult {
  std::string id;
  std::string prompt;
  bool chat = true;
  int64_t max_new_tokens = 0;
  int tier = 0;              // 1..8 in the tiers benchmark, 0 elsewhere
  std::string text;          // the reference output, decoded
  RunRecord reference;       // run-1
  std::vector<RunResult> runs;
  bool passed() const;
};

struct ModelIdentity {
  std::string path;
  std::string name;
  std::string file_sha256;
};

struct Counts {
  int64_t cases = 0;
  int64_t cases_failed = 0;
  int64_t comparisons = 0;   // (case, run) pairs besides the reference
  int64_t comparisons_failed = 0;
};

// One case of a golden proof against the same case of this run.
struct CaseVerdict {
  std::string id;
  bool match = false;
  std::optional<Divergence> divergence;   // the first one, when !match and both sides have the case
  std::string note;                       // "missing from the run", "not in the golden file"
};

// `verify --golden`: this run's reference records against a proof file.
struct GoldenCheck {
  std::string path;
  std::string level;        // "bits" or "tokens"
  bool written = false;     // --update-golden wrote the file instead of comparing
  std::vector<CaseVerdict> cases;
  bool passed() const;
};

struct VerifyResults {
  std::vector<std::string> command;
  std::string started_at;
  double duration_s = 0.0;
  Environment environment;
  ModelIdentity model;
  std::string suite_name;
  std::string suite_path;
  int64_t runs = 0;        // in-process runs per case, the reference included
  int64_t processes = 0;
  std::vector<CaseResult> cases;
  std::optional<GoldenCheck> golden;
  // The co-batched rounds run ("batch-3", "join-a", ...; empty: none) and,
  // over every co-batched case run, how many of the case's tokens were
  // decoded in a batch of each size.
  std::vector<std::string> batch_rounds;
  std::map<int64_t, int64_t> batch_sizes;

  bool passed() const;
  Counts counts() const;
};

// The suite's name and path, and an empty result for each of its cases, in order.
void start_results(VerifyResults& results, const Suite& suite);

void to_json(nlohmann::ordered_json& out, const CaseVerdict& verdict);
void from_json(const nlohmann::ordered_json& in, CaseVerdict& verdict);

nlohmann::ordered_json to_json(const VerifyResults& results);
// bad_input for a document that is not lockstep.results/0.
VerifyResults results_from_json(const nlohmann::ordered_json& document);

// Atomic write; environment_error if the file cannot be written.
void write_results(const std::string& path, const VerifyResults& results);

// JSON text that never throws on invalid UTF-8 in model output (such bytes
// become U+FFFD): decoded tokens can end in the middle of a character.
std::string dump_json(const nlohmann::ordered_json& value, int indent = 2);

}  // namespace lockstep::harness

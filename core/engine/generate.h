// Decoding loop: prefill the prompt, then one token at a time. Greedy by
// default (argmax, the smallest token id wins a tie); sampling only with an
// explicit seed, from a counter-based RNG keyed by (seed, step), so a sampled
// run is reproducible. Every step's raw fp32 logits are hashed (SHA-256 of the
// little-endian bytes) so callers can compare runs bit for bit.
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/logprobs.h"
#include "core/models/decoder.h"
#include "kernels/token_choice.h"

namespace lockstep {

struct SamplingOptions {
  double temperature = 0.0;   // 0: greedy
  int64_t top_k = 0;          // 0: off
  double top_p = 1.0;         // 1: off
  std::optional<uint64_t> seed;
  // The RNG stream of this request: draws are keyed by (seed, stream, step),
  // never by arrival order or batch slot, so a sampled request gives the
  // same tokens alone and among others. Give concurrent requests that share
  // a seed different streams if they should not sample alike.
  uint64_t stream = 0;
};

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  bool stop_at_eos = true;
  std::vector<int32_t> stop_ids;   // besides EOS
  // Stop once the generated text contains one of these (the token that
  // completes it is kept, as in transformers' stop_strings). Needs `detokenize`.
  std::vector<std::string> stop_strings;
  std::function<std::string(const std::vector<int32_t>&)> detokenize;
  SamplingOptions sampling;
  // Log-probabilities of every chosen token (core/engine/logprobs.h) and of
  // the `logprobs` most likely candidates (0 to kMaxTopLogprobs); -1: none.
  int64_t logprobs = -1;
  // Called with every chosen token as soon as it is chosen (streaming; on the
  // engine's scheduler thread), `last` once the request is done, with the
  // step's log-probabilities when they are asked for (else null). It must
  // not block for long: the whole batch waits.
  std::function<void(int32_t token, bool last, const StepLogprobs* logprobs)> on_token;
  // Hashes the request's activations at every layer and op (locating where
  // two runs part; core/models/probe.h). Steps with a probe run eagerly.
  ActivationProbe* probe = nullptr;
  // Set by the caller (another thread) to end the request early: the batching
  // engine drops it before its next step (or before it is admitted) and
  // fulfils it with the tokens so far, stop reason "cancelled"; on_token is
  // not called again. Other requests' bits do not depend on it.
  std::shared_ptr<const std::atomic<bool>> cancel;
};

// bad_input for sampling without a seed, negative or non-finite temperature,
// top_p outside (0, 1], negative top_k or max_new_tokens < 1, logprobs
// outside -1..kMaxTopLogprobs, and empty stop strings or stop strings without
// a detokenizer.
void validate(const GenerateOptions& options);

// One of a step's most likely tokens, with its raw fp32 logit.
struct TopLogit {
  int32_t id = 0;
  float logit = 0.0f;
};
inline constexpr int64_t kTopLogits = 5;

// Where a step ran: the sequences in it, this request's row among them, and
// the step's number in its engine (0, 1, ... since the engine started; for
// generate(), the token's index), so that requests of one engine can be
// lined up: who joined whom mid-decode, who shared a step with whom.
struct StepPlace {
  int64_t batch = 1;
  int64_t row = 0;
  int64_t step = 0;
};

class DigestPool;

// What the batching engine hands Decoding::accept besides the logits.
struct StepInputs {
  StepPlace place;
  // The row's token, chosen for the whole batch at once on the device
  // (kernels/token_choice.h: the host's choice to the bit); used by requests
  // without an observer. -1: the row could not be chosen (NaN logits).
  std::optional<int32_t> chosen;
  // Where the digest and top candidates are computed (null: inline; a pool
  // without threads must be drained by DigestPool::run_queued()). Requests
  // with an observer always record inline, after the observer.
  DigestPool* pool = nullptr;
  // false: no digest and no top candidates (throughput measurements only).
  bool digests = true;
};

struct Generation {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> output_ids;
  std::vector<std::string> step_logits_sha256;   // one per generated token
  // The kTopLogits largest logits of every step (ties: smaller id first),
  // so a divergence can show both sides' candidates and how far they moved.
  std::vector<std::vector<TopLogit>> step_top;
  std::string stop_reason;                       // "eos", "stop_id", "stop_string", "max_tokens", "cancelled"
  // One per generated token when GenerateOptions::logprobs >= 0, else empty.
  std::vector<StepLogprobs> step_logprobs;
  // The step that produced each token: sequences in it and this request's row.
  std::vector<StepPlace> step_places;
};

// Called with each step's logits [vocab] (fp32, contiguous, CPU) before they
// are hashed and a token is chosen. It may modify them: the harness's
// test-only fault hook and the logits dump use this.
using StepObserver = std::function<void(int64_t step, at::Tensor& logits)>;

// The per-request decoding state, shared by generate() and the batching
// Engine so that both make exactly the same choices: feed next_input() to the
// model, hand the last token's logits to accept(), repeat until done().
class Decoding {
 public:
  // bad_input for invalid options or an empty prompt.
  Decoding(std::vector<int32_t> prompt_ids, std::vector<int32_t> eos_ids, GenerateOptions options,
           StepObserver observer = {});
  // Waits for pending digests.
  ~Decoding();
  Decoding(Decoding&&) = default;
  Decoding& operator=(Decoding&&) = default;
  // The prompt before the first step, then the last chosen token.
  const std::vector<int32_t>& next_input() const { return next_; }
  // Tokens the KV cache must hold: prompt + max_new_tokens.
  int64_t capacity() const;
  bool done() const { return done_; }
  // GenerateOptions::cancel was set (and the request is not done yet).
  bool cancel_requested() const { return !done_ && options_.cancel && options_.cancel->load(); }
  // Ends the request now with stop reason "cancelled".
  void cancel();
  // No observer: the engine may choose the token with the batch's on the
  // device (argmax, or kernels::choose_tokens with choice()) and feed it to
  // the next step before accept() sees it. Never in the fault-injection
  // build, whose hook may change the row first. (Defined in generate.cpp,
  // which the fault-injection build compiles again.)
  bool chosen_on_device() const;
  bool greedy() const { return options_.sampling.temperature == 0.0; }
  // The parameters that choose the next token, or with `ahead` the one after
  // it (the engine launching a step before the previous one's records).
  kernels::ChoiceParams choice(bool ahead) const;
  // The next accepted token is the last one, whichever it is (max_new_tokens).
  bool ends_after_next() const {
    return !done_ && static_cast<int64_t>(g_.output_ids.size()) + 1 >= options_.max_new_tokens;
  }
  ActivationProbe* probe() const { return options_.probe; }
  // `logits`: fp32 CPU [vocab], the step's last-token logits (not modified;
  // with a pool they must stay unchanged until take()).
  void accept(at::Tensor logits, const StepInputs& in = {});
  // The prompt, tokens and stop reason so far (digests may still be pending).
  const Generation& result() const { return g_; }
  // The whole record, once every pending digest is done (rethrows its error).
  Generation take();

 private:
  std::vector<int32_t> eos_ids_;
  GenerateOptions options_;
  StepObserver observer_;
  Generation g_;
  bool hit_stop_string() const;

  std::vector<int32_t> next_;
  bool done_ = false;
  struct StepRecord {
    std::string sha256;
    std::vector<TopLogit> top;
  };
  struct Pending {   // a step's digest being computed in a DigestPool
    size_t step = 0;
    std::shared_ptr<StepRecord> record;
    std::future<void> done;
  };
  std::vector<Pending> pending_;
};

Generation generate(const DecoderModel& model, const std::vector<int32_t>& prompt_ids,
                    int32_t eos_id, const GenerateOptions& options,
                    const StepObserver& observer = {});

}  // namespace lockstep

#include "core/engine/generate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/engine/digest_pool.h"
#include "core/engine/sampling.h"
#include "core/error.h"
#include "core/util/sha256.h"
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault_tensor.h"
#endif

namespace lockstep {

static_assert(sizeof(float) == 4, "logits digests hash IEEE-754 binary32");

void validate(const GenerateOptions& options) {
  const SamplingOptions& s = options.sampling;
  if (options.max_new_tokens < 1) throw bad_input("max_new_tokens must be at least 1");
  if (!std::isfinite(s.temperature) || s.temperature < 0) {
    throw bad_input("temperature must be a finite number >= 0 (0 means greedy)");
  }
  if (s.top_k < 0) throw bad_input("top_k must be >= 0 (0 disables it)");
  if (options.logprobs < -1 || options.logprobs > kMaxTopLogprobs) {
    throw bad_input("logprobs must be from 0 to 20 top candidates (-1: none)");
  }
  if (!(s.top_p > 0 && s.top_p <= 1)) throw bad_input("top_p must be in (0, 1]");
  if (s.temperature > 0 && !s.seed) {
    throw bad_input(
        "sampling (temperature > 0) needs an explicit seed: lockstep never draws unseeded random "
        "numbers, since the output could not be reproduced. Pass --seed N, or use temperature 0 for "
        "greedy decoding.");
  }
  for (const std::string& stop : options.stop_strings) {
    if (stop.empty()) throw bad_input("stop strings must not be empty");
    if (!options.detokenize) throw bad_input("stop strings need a detokenizer (GenerateOptions::detokenize)");
  }
  if (s.temperature == 0 && (s.top_k > 0 || s.top_p < 1)) {
    throw bad_input("top_k / top_p only apply when sampling: set a temperature > 0 and a seed");
  }
}

namespace {

// The kTopLogits largest logits of the row (core/engine/sampling.h top_ids).
std::vector<TopLogit> top_logits(const at::Tensor& row) {
  const float* v = row.const_data_ptr<float>();
  std::vector<TopLogit> top;
  for (int32_t id : top_ids(v, row.numel(), kTopLogits)) top.push_back({id, v[id]});
  return top;
}

}  // namespace

Decoding::Decoding(std::vector<int32_t> prompt_ids, std::vector<int32_t> eos_ids, GenerateOptions options,
                   StepObserver observer)
    : eos_ids_(std::move(eos_ids)), options_(std::move(options)), observer_(std::move(observer)) {
  validate(options_);
  if (prompt_ids.empty()) throw bad_input("the prompt has no tokens");
  g_.prompt_ids = std::move(prompt_ids);
  g_.stop_reason = "max_tokens";
  next_ = g_.prompt_ids;
}

// A stop string of L bytes that the newest token completes lies within the
// text of the last L tokens (every token is at least one byte), and it was
// not complete a step earlier, so only that tail is decoded.
bool Decoding::hit_stop_string() const {
  for (const std::string& stop : options_.stop_strings) {
    // One token more: a decoder that strips the first token's leading space
    // (SentencePiece) must not eat the stop string's.
    const size_t n = std::min(g_.output_ids.size(), stop.size() + 1);
    const std::vector<int32_t> tail(g_.output_ids.end() - static_cast<std::ptrdiff_t>(n), g_.output_ids.end());
    if (options_.detokenize(tail).find(stop) != std::string::npos) return true;
  }
  return false;
}

bool Decoding::chosen_on_device() const {
#ifdef LOCKSTEP_FAULT_INJECTION
  return false;
#else
  return !observer_;
#endif
}

kernels::ChoiceParams Decoding::choice(bool ahead) const {
  return choice_params(options_.sampling, g_.output_ids.size() + (ahead ? 1 : 0));
}

int64_t Decoding::capacity() const {
  return static_cast<int64_t>(g_.prompt_ids.size()) + options_.max_new_tokens;
}

void Decoding::accept(at::Tensor logits, const StepInputs& in) {
  if (done_) throw std::logic_error("Decoding::accept after the end");
  const int64_t step = static_cast<int64_t>(g_.output_ids.size());
  bool inline_only = static_cast<bool>(observer_);
#ifdef LOCKSTEP_FAULT_INJECTION
  inline_only = true;   // the fault hook changes the row before it is hashed and a token chosen
#endif
  at::Tensor row;
  if (inline_only) {
    row = logits.contiguous().clone();
    if (observer_) observer_(step, row);
#ifdef LOCKSTEP_FAULT_INJECTION
    kernels::fault::maybe_flip_logit(step, options_.max_new_tokens, g_.prompt_ids, row);
#endif
  } else {
    row = logits.contiguous();
  }
  const size_t at = g_.step_logits_sha256.size();
  g_.step_logits_sha256.emplace_back();
  g_.step_top.emplace_back();
  if (in.digests) {
    if (in.pool != nullptr && !inline_only) {
      // The worker fills a record of its own; take() copies it into place.
      auto record = std::make_shared<StepRecord>();
      std::future<void> done = in.pool->submit([row, record] {
        record->sha256 = sha256_hex(row.const_data_ptr<float>(), row.numel() * sizeof(float));
        record->top = top_logits(row);
      });
      pending_.push_back(Pending{at, std::move(record), std::move(done)});
    } else {
      g_.step_logits_sha256[at] = sha256_hex(row.const_data_ptr<float>(), row.numel() * sizeof(float));
      g_.step_top[at] = top_logits(row);
    }
  }
  const bool use_chosen = in.chosen && !inline_only;
  if (use_chosen && *in.chosen < 0) throw std::logic_error("Decoding::accept: an unchosen row (-1) is the caller's to raise");
  const int32_t token = use_chosen ? *in.chosen : choose_token(row, options_.sampling, static_cast<uint64_t>(step));
  g_.step_places.push_back(in.place);
  g_.output_ids.push_back(token);
  if (options_.logprobs >= 0) {
    g_.step_logprobs.push_back(step_logprobs(row.const_data_ptr<float>(), row.numel(), token, options_.logprobs));
  }
  next_ = {token};
  if (options_.stop_at_eos && std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end()) {
    g_.stop_reason = "eos";
    done_ = true;
  } else if (std::find(options_.stop_ids.begin(), options_.stop_ids.end(), token) != options_.stop_ids.end()) {
    g_.stop_reason = "stop_id";
    done_ = true;
  } else if (hit_stop_string()) {
    g_.stop_reason = "stop_string";
    done_ = true;
  } else if (step + 1 == options_.max_new_tokens) {
    done_ = true;
  }
  if (options_.on_token) {
    options_.on_token(token, done_, options_.logprobs >= 0 ? &g_.step_logprobs.back() : nullptr);
  }
}

void Decoding::cancel() {
  g_.stop_reason = "cancelled";
  done_ = true;
}

Decoding::~Decoding() {
  for (Pending& p : pending_) {
    if (p.done.valid()) p.done.wait();
  }
}

Generation Decoding::take() {
  for (Pending& p : pending_) {
    p.done.get();
    g_.step_logits_sha256[p.step] = std::move(p.record->sha256);
    g_.step_top[p.step] = std::move(p.record->top);
  }
  pending_.clear();
  return std::move(g_);
}

Generation generate(const DecoderModel& model, const std::vector<int32_t>& prompt_ids, int32_t eos_id,
                    const GenerateOptions& options, const StepObserver& observer) {
  Decoding d(prompt_ids, {eos_id}, options, observer);
  // Before any computation: a prompt that cannot fit fails now, naming the context.
  if (d.capacity() > model.config().context) {
    throw bad_input("the prompt (" + std::to_string(prompt_ids.size()) + " tokens) + max_new_tokens (" +
                    std::to_string(options.max_new_tokens) + ") = " + std::to_string(d.capacity()) +
                    " tokens exceeds the model's context of " + std::to_string(model.config().context) +
                    " tokens: shorten the prompt or lower max_new_tokens");
  }
  KvCache cache = model.new_cache(d.capacity());
  for (int64_t step = 0; !d.done(); ++step) {
    StepInputs in;
    in.place.step = step;
    d.accept(model.forward_last({SequenceChunk{d.next_input(), &cache, options.probe}})[0], in);
  }
  return d.take();
}

}  // namespace lockstep

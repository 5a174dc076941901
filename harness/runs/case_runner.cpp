#include "harness/runs/case_runner.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace lockstep::harness {

GenerateOptions generate_options_for(const ModelBundle& bundle, int64_t max_new_tokens,
                                     const SamplingOptions& sampling) {
  GenerateOptions options;
  options.max_new_tokens = max_new_tokens;
  options.sampling = sampling;
  options.detokenize = [tokenizer = &bundle.tokenizer](const std::vector<int32_t>& ids) { return tokenizer->decode(ids); };
  // GGUF names one EOS; chat models end a turn with their own marker, which
  // may differ from it (and raw prompts may end with the document marker).
  for (const char* marker : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "</s>"}) {
    if (auto id = bundle.tokenizer.token_id(marker); id && *id != bundle.tokenizer.eos_id()) {
      options.stop_ids.push_back(*id);
    }
  }
  return options;
}

std::string answer_text(const ModelBundle& bundle, const Generation& generation) {
  std::vector<int32_t> ids = generation.output_ids;
  if (!ids.empty() && generation.stop_reason != "max_tokens") {
    const std::vector<int32_t> stops = generate_options_for(bundle, 1).stop_ids;
    const int32_t last = ids.back();
    if (last == bundle.tokenizer.eos_id() || std::count(stops.begin(), stops.end(), last) > 0) ids.pop_back();
  }
  return bundle.tokenizer.decode(ids);
}

TimedGeneration generate_timed(const ModelBundle& bundle, const std::vector<int32_t>& prompt_ids,
                               const GenerateOptions& options, const StepObserver& observer) {
  const auto start = std::chrono::steady_clock::now();
  TimedGeneration out;
  out.generation = generate(bundle.model, prompt_ids, bundle.tokenizer.eos_id(), options, observer);
  out.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

TimedGeneration run_case(const ModelBundle& bundle, const SuiteCase& c, const StepObserver& observer) {
  const GenerateOptions options = generate_options_for(bundle, c.max_new_tokens);
  return generate_timed(bundle, bundle.prompt_ids(c.prompt, !c.chat), options, observer);
}

std::string token_text(const ModelBundle& bundle, const std::optional<int32_t>& id) {
  if (!id) return "";
  try {
    return bundle.tokenizer.decode_token(*id);
  } catch (const Error&) {
    return "";   // an id outside the vocabulary is itself visible in the report
  }
}

// Fills in the text of a divergence's tokens and top candidates.
void name_tokens(const ModelBundle& bundle, Divergence& d) {
  d.expected_text = token_text(bundle, d.expected_token);
  d.actual_text = token_text(bundle, d.actual_token);
  d.expected_top_text.clear();
  d.actual_top_text.clear();
  for (const auto& [id, logit] : d.expected_top) d.expected_top_text.push_back(token_text(bundle, id));
  for (const auto& [id, logit] : d.actual_top) d.actual_top_text.push_back(token_text(bundle, id));
}

}  // namespace lockstep::harness

// One generation as the CLI runs it: prompt formatting (chat or raw), the
// stop tokens of the model's chat format, timing, and the answer text.
#pragma once

#include <optional>
#include <string>

#include "core/engine/generate.h"
#include "core/engine/model_bundle.h"
#include "harness/runs/run_record.h"
#include "harness/suite.h"

namespace lockstep::harness {

// Options with the model's end-of-turn tokens as stop ids ("<|im_end|>",
// "<|endoftext|>", "<|eot_id|>", ... whichever the vocabulary has).
GenerateOptions generate_options_for(const ModelBundle& bundle, int64_t max_new_tokens,
                                     const SamplingOptions& sampling = {});

// The output decoded, without the trailing stop token.
std::string answer_text(const ModelBundle& bundle, const Generation& generation);

struct TimedGeneration {
  Generation generation;
  double duration_s = 0.0;
};

TimedGeneration generate_timed(const ModelBundle& bundle, const std::vector<int32_t>& prompt_ids,
                               const GenerateOptions& options, const StepObserver& observer = {});

// One token's text ("" for none, or an id outside the vocabulary).
std::string token_text(const ModelBundle& bundle, const std::optional<int32_t>& id);

// Fills in the text of a divergence's tokens and top candidates.
void name_tokens(const ModelBundle& bundle, Divergence& d);

// A suite case, greedy.
TimedGeneration run_case(const ModelBundle& bundle, const SuiteCase& c, const StepObserver& observer = {});

}  // namespace lockstep::harness

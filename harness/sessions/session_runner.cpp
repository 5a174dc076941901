#include "harness/sessions/session_runner.h"

#include <chrono>

#include "core/error.h"
#include "harness/runs/case_runner.h"
#include "harness/proofs/proof.h"

namespace lockstep::harness {

namespace {

StepObserver both(StepObserver a, StepObserver b) {
  if (!a) return b;
  if (!b) return a;
  return [a, b](int64_t step, at::Tensor& logits) {
    a(step, logits);
    b(step, logits);
  };
}

std::string describe_call(const ToolCall& c) { return c.name + " " + python_json(c.arguments); }

}  // namespace

SessionState::SessionState(const ModelBundle& bundle, const SessionScript& script) : bundle_(bundle) {
  if (!bundle.chat_template) {
    throw bad_input(bundle.path + ": a session needs a chat template (" + bundle.chat_template_error + ")");
  }
  for (const SessionStep& s : script.steps) {
    if ((s.type == "tool_call" || s.type == "tool_result") && !bundle.chat_template->supports_tool_role()) {
      throw bad_input(bundle.path + ": the built-in " + bundle.chat_template->family() +
                      " chat template cannot render tool calls and results (only the ChatML families can)");
    }
  }
  if (!script.system.empty()) messages_.push_back({"system", script.system});
}

TraceTurn SessionState::run(const SessionScript& script, size_t index, const TurnGenerator& generator,
                            const StepObserver& observer) {
  const SessionStep& s = script.steps.at(index);
  TraceTurn t;
  t.step = static_cast<int64_t>(index);
  t.type = s.type;
  if (s.type == "user") {
    t.text = s.text;
    messages_.push_back({"user", s.text});
  } else if (s.type == "tool_call") {
    t.text = tool_call_text(s.call);
    t.tool_calls = {s.call};
    // Consecutive scripted calls are one assistant turn, as a model would write them.
    if (!messages_.empty() && messages_.back().role == "assistant" && !pending_.empty() && last_type_ == "tool_call") {
      messages_.back().content += "\n" + t.text;
    } else {
      messages_.push_back({"assistant", t.text});
    }
    pending_.push_back(s.call);
  } else if (s.type == "tool_result") {
    if (pending_.empty()) t.error = "nothing to answer: the assistant turn before made no tool call";
    for (const ToolCall& call : pending_) {
      const CannedTool* canned = find_canned(script, call);
      if (!canned) {
        t.error = "the model called " + describe_call(call) + ", which has no canned answer in the script's \"tools\"";
        break;
      }
      t.answers.push_back(ToolAnswer{call, canned->result});
    }
    if (t.error.empty()) {
      for (const ToolAnswer& a : t.answers) messages_.push_back({"tool", a.result});
    }
    pending_.clear();
  } else {   // generate
    SamplingOptions sampling;
    sampling.temperature = s.temperature;
    sampling.seed = s.seed;
    GenerateOptions generate = generate_options_for(bundle_, s.max_new_tokens, sampling);
    generate.stop_strings = s.stop;
    const std::string rendered = bundle_.chat_template->render(messages_, /*add_generation_prompt=*/true);
    const std::vector<int32_t> ids = bundle_.tokenizer.encode(rendered, /*parse_special=*/true);
    const Generation generation = generator(ids, generate, observer);
    t.record = record_of(generation, 0.0);
    // The conversation keeps the answer's bytes; the trace's text must be valid UTF-8 (a
    // generation can stop inside a character).
    const std::string answer = answer_text(bundle_, generation);
    t.text = valid_utf8(answer);
    const ParsedToolCalls parsed = parse_tool_calls(answer);
    t.tool_calls = parsed.calls;
    for (const std::string& e : parsed.errors) t.tool_call_errors.push_back(valid_utf8(e));
    messages_.push_back({"assistant", answer});
    pending_ = parsed.calls;
  }
  last_type_ = s.type;
  return t;
}

std::vector<TraceTurn> run_session(const ModelBundle& bundle, const SessionScript& script,
                                   const SessionRunOptions& options) {
  SessionState state(bundle, script);
  const TurnGenerator solo = [&](const std::vector<int32_t>& ids, const GenerateOptions& generate,
                                 const StepObserver& observer) {
    return generate_timed(bundle, ids, generate, observer).generation;
  };
  std::vector<TraceTurn> turns;
  for (size_t i = 0; i < script.steps.size(); ++i) {
    const auto start = std::chrono::steady_clock::now();
    const StepObserver observer = both(fault_observer(options.fault, options.run_label),
                                       fault_observer(options.fault, options.run_label + "-turn-" + std::to_string(i)));
    turns.push_back(state.run(script, i, solo, observer));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (options.progress) options.progress(turns.back(), script.steps.size(), seconds);
    if (!turns.back().error.empty()) break;
  }
  return turns;
}

}  // namespace lockstep::harness

#include "harness/runs/localise.h"

#include <fmt/format.h>

namespace lockstep::harness {

namespace {

std::string where(const ActivationPoint& p, int64_t layers, int64_t step) {
  const std::string layer = p.layer < 0         ? "the embedding"
                            : p.layer >= layers ? "the output"
                                                : fmt::format("layer {}", p.layer);
  const std::string when = step < 0 ? "in the prompt" : fmt::format("decode step {}", step);
  return fmt::format("{}, op {}, at token position {} ({})", layer, p.op, p.position, when);
}

}  // namespace

ActivationDivergence localise(const RunRecord& reference, const Divergence& divergence, int64_t layers,
                              const ProbedRun& solo, const ProbedRun& batch) {
  const auto prompt = static_cast<int64_t>(reference.prompt_ids.size());
  const int64_t last = prompt - 1 + divergence.step;
  ActivationProbe expected(last), actual(last);
  const RunRecord alone = solo(&expected);
  const RunRecord together = batch(&actual);
  ActivationDivergence out;
  if (first_divergence(reference, alone)) {
    out.what = "not localised: the solo re-run differs from the reference itself (nondeterminism run to run)";
    return out;
  }
  if (!first_divergence(alone, together)) {
    out.what = "not localised: the batch re-run did not reproduce the divergence";
    return out;
  }
  const std::optional<ActivationPoint> first = ActivationProbe::first_difference(expected, actual);
  if (!first) {
    out.what = fmt::format("every activation up to the logits of step {} is bit-equal solo and in the batch: the "
                           "divergence arose after the model (token choice, sampling or a step observer)",
                           divergence.step);
    return out;
  }
  out.found = true;
  out.position = first->position;
  out.step = first->position + 1 - prompt;
  out.layer = first->layer;
  out.op = first->op;
  out.expected_sha256 = first->expected_sha256;
  out.actual_sha256 = first->actual_sha256;
  out.what = "first divergent activation: " + where(*first, layers, out.step);
  return out;
}

}  // namespace lockstep::harness

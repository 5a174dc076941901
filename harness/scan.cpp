#include "harness/scan.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "kernels/coverage.h"

namespace lockstep::harness {
namespace {

int rank(const std::string& coverage) {
  return coverage == "uncovered" ? 0 : coverage == "invariant" ? 1 : coverage == "composite" ? 2 : 3;
}

}  // namespace

std::vector<ScannedOp> scan_ops(const std::function<void()>& work) {
  std::map<std::string, int64_t> calls;
  {
    kernels::OpRecorder recorder;
    work();
    calls = recorder.stop();
  }
  std::vector<ScannedOp> ops;
  for (const auto& [name, count] : calls) {
    auto [coverage, note] = kernels::classify_op(name);
    ops.push_back({name, count, coverage, note});
  }
  std::sort(ops.begin(), ops.end(), [](const ScannedOp& a, const ScannedOp& b) {
    return rank(a.coverage) != rank(b.coverage) ? rank(a.coverage) < rank(b.coverage) : a.name < b.name;
  });
  return ops;
}

nlohmann::ordered_json scan_to_json(const std::vector<ScannedOp>& ops, const std::string& target) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  int64_t uncovered = 0;
  for (const ScannedOp& op : ops) {
    uncovered += op.coverage == "uncovered";
    list.push_back({{"op", op.name}, {"calls", op.calls}, {"coverage", op.coverage}, {"note", op.note}});
  }
  return {{"schema", "lockstep.scan/0"},
          {"target", target},
          {"verdict", uncovered == 0 ? "covered" : "uncovered ops"},
          {"uncovered", uncovered},
          {"ops", list}};
}

}  // namespace lockstep::harness

// `lockstep scan`: which aten ops a model actually runs, and whether each is
// covered in batch_invariant mode. Ops are recorded while the model runs once under the
// mode and classified by kernels/coverage.h (invariant | composite | exact | uncovered), the list
// the Python package's lockstep_kernels.check() uses too.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lockstep::harness {

struct ScannedOp {
  std::string name;       // "aten::mm", "aten::sum.dim_IntList" (by overload)
  int64_t calls = 0;
  std::string coverage;   // invariant | composite | exact | uncovered
  std::string note;
};

// Runs `work` with a recorder installed; returns every op it called, sorted
// by coverage (uncovered first) then name.
std::vector<ScannedOp> scan_ops(const std::function<void()>& work);

nlohmann::ordered_json scan_to_json(const std::vector<ScannedOp>& ops, const std::string& target);

}  // namespace lockstep::harness

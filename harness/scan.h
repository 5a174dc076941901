// `lockstep scan`: which aten ops a model actually runs, and whether each is
// covered in batch_invariant mode. Ops are recorded with at::RecordFunction
// while the model runs once under the mode, then classified:
//   invariant   lockstep's kernel replaces this overload (kernels/registered.h lists exactly
//               what kernels/register.cpp registers: sum.dim_IntList is, the full sum is not);
//   composite   decomposes into other ops (those are classified themselves);
//   exact       computes each output element from its own inputs with one
//               correctly rounded operation, or only moves data: the batch
//               cannot change its bits;
//   uncovered   anything else: a reduction or transcendental lockstep does not
//               replace, whose bits may depend on the batch or thread split.
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

// Classification of one op name (exposed for tests).
std::pair<std::string, std::string> classify_op(const std::string& name);

nlohmann::ordered_json scan_to_json(const std::vector<ScannedOp>& ops, const std::string& target);

}  // namespace lockstep::harness

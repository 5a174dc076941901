// How a suite's cases are exercised beyond their solo reference run: the
// "batch_plan" of a suite file (or `verify --batch-sizes`). Each case is run
// co-batched through the Engine, the path users serve, and every such run must
// equal the case's solo bits:
//
//   "batch_plan": {
//     "sizes": [3, 8],            a round per size: every case in a batch of exactly that many
//                                 requests (other cases and fillers), at a seeded random row
//     "join_after_steps": 4,      two rounds in which half the cases join a batch that has
//                                 decoded that many steps, and others join the other half
//                                 mid-decode (0: no join rounds)
//     "fillers": {                the other requests: seeded random token ids
//       "seed": 1,
//       "prompt_tokens": [1, 48],     prompt lengths drawn from this range
//       "long_prompt_tokens": 400,    one filler of every batch this long (0: none)
//       "new_tokens": [4, 32],        budgets drawn from this range (EOS ignored)
//       "sampling": [{"temperature": 0.7, "top_k": 20}, ...]
//                                     neighbours' seeded-sampling settings, used in turn; the
//                                     other fillers are greedy; every batch has at least one
//     }
//   }
//
// A plan must be carried out: each case's results show a step in a batch of
// every planned size, a join each way and a sampling neighbour, or the run
// fails (harness/runs/batch_runner.h checks it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>


namespace lockstep::harness {

// A sampling neighbour's settings (no libtorch here: the suite parser, which
// the fuzz targets build alone, reads them).
struct FillerSampling {
  double temperature = 1.0;
  int64_t top_k = 0;     // 0: off
  double top_p = 1.0;    // 1: off
};

struct FillerPlan {
  uint64_t seed = 1;
  int64_t min_prompt = 1, max_prompt = 48;
  int64_t long_prompt = 0;
  int64_t min_new = 4, max_new = 32;
  std::vector<FillerSampling> sampling;   // used in turn; seeds and streams given per filler
};

struct BatchPlan {
  std::vector<int64_t> sizes;
  int64_t join_after = 0;
  FillerPlan fillers;
  bool empty() const { return sizes.empty() && join_after == 0; }
  // "batch-3", "batch-8", "join-a", "join-b": one co-batched run per case each.
  std::vector<std::string> round_labels() const;
};

// bad_input naming `origin` and the field: unknown keys, sizes < 1 or
// repeated, ranges with min > max or min < 1, sampling settings that
// generate() would refuse, no sampling settings (a plan needs a sampling
// neighbour).
BatchPlan parse_batch_plan(const nlohmann::ordered_json& value, const std::string& origin);
// The default plan with these sizes (--batch-sizes).
BatchPlan batch_plan_with_sizes(std::vector<int64_t> sizes, int64_t join_after);

}  // namespace lockstep::harness

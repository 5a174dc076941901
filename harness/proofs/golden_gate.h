// The golden side of a determinism check (verify, bench, reload, stress):
// what must hold before a run is worth its minutes (the golden file exists
// and parses, it was made where this run's bits can be compared, of this
// model; an update's folder exists and is writable), and after the run the
// comparison, or the update, which never records a run that was not
// deterministic itself. The CLI only turns options into a GoldenRequest.
#pragma once

#include <optional>
#include <string>

#include "harness/proofs/proof.h"
#include "harness/results/results.h"
#include "harness/runs/verifier.h"

namespace lockstep::harness {

struct GoldenRequest {
  std::string path;  // empty: no golden file
  ProofLevel level = ProofLevel::bits;
  double tolerance = 1.0 / 256;
  bool update = false;      // write this run's proof to `path` instead of comparing
  bool create_dir = false;  // let an update create path's missing folder
  bool subset = false;      // --case / --tier chose some of the suite's cases
};

struct GoldenGate {
  GoldenRequest request;
  std::optional<Proof> golden;  // read before the run; absent when updating or without a golden
  bool environment_checked = false;
  std::string model_sha256;     // of the model, where the golden needed it ("" otherwise)
};

// Before the run; bad_input for every problem a golden can have that the run
// would not change. `here` is this run's environment, or nullopt where it is
// known only from the answers (a server): then the model is not checked
// either, and settle_golden checks the environment.
GoldenGate open_golden(const GoldenRequest& request, const std::optional<Environment>& here,
                       const std::string& model_path);

// After the run: the check results.golden records (cases compared, or the
// file written). `mine` is the run's proof; progress gets the notes a user
// needs (a refused update, a subset compared).
GoldenCheck settle_golden(const GoldenGate& gate, const VerifyResults& results, const Proof& mine,
                          const Progress& progress);

}  // namespace lockstep::harness

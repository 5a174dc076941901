#include "harness/proofs/golden_gate.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/engine/model_bundle.h"
#include "core/error.h"
#include "harness/atomic_file.h"
#include "harness/paths.h"

namespace lockstep::harness {

GoldenGate open_golden(const GoldenRequest& request, const std::optional<Environment>& here,
                       const std::string& model_path) {
  GoldenGate gate;
  gate.request = request;
  if (request.path.empty()) {
    if (request.update) throw bad_input("--update-golden needs --golden PATH");
    return gate;
  }
  if (request.update) {
    // A typo in a golden path must not become a new golden: its folder must exist unless asked.
    const std::string folder = parent_directory(request.path);
    if (!request.create_dir && !folder.empty() && !is_directory(folder)) {
      throw bad_input("--golden " + request.path + ": the folder " + folder +
                      " does not exist; create it, or pass --create-golden-dir to let --update-golden create it");
    }
    check_writable(request.path);
    return gate;
  }
  if (!is_regular_file(request.path)) {
    throw bad_input(request.path + " does not exist; create it with --update-golden (and commit it)");
  }
  gate.golden = read_proof(request.path);
  if (!here) return gate;
  const std::string why = incomparable_reason(gate.golden->environment, *here);
  if (!why.empty()) throw bad_input(request.path + " cannot be compared bit for bit with this run: " + why);
  gate.environment_checked = true;
  // Another model's golden fails now, not after the whole run.
  gate.model_sha256 = model_sha256(model_path);
  if (gate.golden->model_sha256 != gate.model_sha256) {
    throw bad_input(fmt::format("{}: the golden proof and this run are of different models: {} (sha256 {}…) vs {} "
                                "(sha256 {}…); use the golden file of this model",
                                request.path, gate.golden->model_name, gate.golden->model_sha256.substr(0, 16),
                                model_path, gate.model_sha256.substr(0, 16)));
  }
  return gate;
}

GoldenCheck settle_golden(const GoldenGate& gate, const VerifyResults& results, const Proof& mine,
                          const Progress& progress) {
  const GoldenRequest& r = gate.request;
  GoldenCheck check;
  check.path = r.path;
  check.level = to_string(r.level);
  if (r.update) {
    if (!results.passed()) {
      progress("verify: not writing " + r.path + ": this run was not deterministic itself");
    } else {
      write_proof(r.path, mine, /*overwrite=*/true, "--update-golden");
      check.written = true;
    }
    return check;
  }
  const Proof& golden = *gate.golden;
  if (!gate.environment_checked) {   // a server's environment is known from its answers
    const std::string why = incomparable_reason(golden.environment, results.environment);
    if (!why.empty()) throw bad_input(r.path + " cannot be compared bit for bit with the server's answers: " + why);
  }
  if (!r.subset) {
    check.cases = compare_proofs(golden, mine, r.level, r.tolerance);
    return check;
  }
  // --case / --tier chose a subset: the golden's other cases were not asked for.
  Proof selected = golden;
  std::set<std::string> ran;
  for (const ProofCase& c : mine.cases) ran.insert(c.id);
  selected.cases.erase(std::remove_if(selected.cases.begin(), selected.cases.end(),
                                      [&](const ProofCase& c) { return !ran.count(c.id); }),
                       selected.cases.end());
  progress("verify: golden: comparing the " + std::to_string(selected.cases.size()) + " selected cases of its " +
           std::to_string(golden.cases.size()) + " (--case / --tier)");
  check.cases = compare_proofs(selected, mine, r.level, r.tolerance);
  return check;
}

}  // namespace lockstep::harness

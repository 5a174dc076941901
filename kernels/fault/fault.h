// TEST-ONLY fault injector. Compiled only into the `lockstep_fault` binary
// (CMake option LOCKSTEP_FAULT_INJECTION, kernels/fault/CMakeLists.txt);
// the default build has neither this code nor its hooks, which all sit
// inside `#ifdef LOCKSTEP_FAULT_INJECTION`.
//
// It introduces the nondeterminism a real inference stack has, in the code
// paths the CPU gate runs (mode batch_invariant, fp32), so that the gate's
// detection power can be measured (ci/detect.sh, harness/DETECTION.md).
// One fault per process, from the environment:
//
//   LOCKSTEP_INJECT_FAULT=<kind>[:<number>][@<run label>]
//
//   logit-ulp[:SEED]       in every generation, one logit moves up one ULP
//                          (nextafter toward +inf) before it is hashed and a
//                          token chosen: at step H(SEED, prompt ids) mod
//                          max_new_tokens, vocabulary entry H'(..) mod vocab
//                          (a random entry, rarely the top one). SEED: 1.
//   splitk-gemm            mm / addmm split K (the reduced dim, >= 64) into
//                          4 parts when M = 1, 3 when M < 16, 2 when M < 128
//                          (M: the rows, i.e. tokens in the step), summed in
//                          order, like a cuBLAS split-K heuristic.
//   attention-split        when a model step runs ONE sequence, attention
//                          takes a flash-decoding path (keys in splits of 32,
//                          combined by log-sum-exp); with more sequences the
//                          normal kernel: a batch-size-dependent split.
//   reordered-reduction    sum / mean (RMSNorm's mean of squares) add each
//                          row in reverse order when more than one row is
//                          reduced at once (prefill).
//   tie-break              greedy argmax keeps the LARGEST id among equal
//                          maxima instead of the smallest; visible only on an
//                          exact tie.
//   tokenizer-merge[:RANK] the BPE merge of rank RANK (default 0) is ignored,
//                          so words that need it split differently.
//
// `@label` limits the fault to one run of `lockstep verify` ("run-2",
// "process-1", "join-a", "stress": the scheduler thread of the run's engine
// carries the label); without it the fault is active throughout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep::kernels::fault {

inline constexpr const char* kVariable = "LOCKSTEP_INJECT_FAULT";

enum class Kind { none, logit_ulp, splitk_gemm, attention_split, reordered_reduction, tie_break, tokenizer_merge };

struct Spec {
  Kind kind = Kind::none;
  uint64_t number = 0;   // logit-ulp: seed; tokenizer-merge: rank
  std::string label;     // empty: every run
};

// Parses a value of the variable ("" is no fault); std::invalid_argument
// naming the accepted forms otherwise.
Spec parse(const std::string& value);
// "splitk-gemm@run-2" for a spec (the number always shown where it applies).
std::string describe(const Spec& spec);
// The process's fault, parsed once from the environment (throws like parse).
const Spec& active();

// The run this thread is in ("run-2", "process-1", "" outside verify).
void set_run_label(const std::string& label);
// True when `kind` is the process's fault and this thread's run matches.
bool on(Kind kind);

// --- hooks; each does nothing unless its fault is on (the ones on tensors
// are in fault_tensor.h) ---
// GEMM: the number of parts K is split into for M rows (1: no split).
int64_t gemm_k_splits(int64_t M, int64_t K);
// Decoder: the number of sequences in the model step this thread runs.
void set_step_sequences(int64_t n);
// SDPA: the key split of the flash-decoding path, 0 for the normal kernel.
int64_t attention_kv_split();
// sum / mean: reverse each row's order, given the number of rows?
bool reverse_reduction(int64_t rows);
// argmax: does the largest id win a tie?
bool largest_id_wins_tie();
// BPE: ignore the merge of this rank?
bool drop_merge(int32_t rank);

}  // namespace lockstep::kernels::fault

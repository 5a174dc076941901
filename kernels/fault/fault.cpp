// The fault injector's choices (kernels/fault/fault.h): the variable, the
// run label, and which step, entry, split or rank a fault touches.
#include "kernels/fault/fault_tensor.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace lockstep::kernels::fault {
namespace {

struct Name {
  const char* text;
  Kind kind;
  bool takes_number;
  uint64_t default_number;
};

constexpr Name kNames[] = {
    {"logit-ulp", Kind::logit_ulp, true, 1},
    {"splitk-gemm", Kind::splitk_gemm, false, 0},
    {"attention-split", Kind::attention_split, false, 0},
    {"reordered-reduction", Kind::reordered_reduction, false, 0},
    {"tie-break", Kind::tie_break, false, 0},
    {"tokenizer-merge", Kind::tokenizer_merge, true, 0},
};

constexpr const char* kForms =
    "forms: logit-ulp[:SEED], splitk-gemm, attention-split, reordered-reduction, tie-break, "
    "tokenizer-merge[:RANK], each optionally followed by @<run label> (run-2, process-1, batch-3, join-a, stress)";

// The key split of the attention-split fault's flash-decoding path.
constexpr int64_t kFaultKvSplit = 32;

thread_local std::string t_label;
thread_local int64_t t_sequences = 0;

std::invalid_argument error(const std::string& value, const std::string& why) {
  return std::invalid_argument(std::string(kVariable) + "='" + value + "': " + why + "; " + kForms);
}

// splitmix64: a fixed, portable mixer for the seeded choices.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

Spec parse(const std::string& value) {
  Spec spec;
  if (value.empty()) return spec;
  std::string body = value;
  if (const size_t at = body.find('@'); at != std::string::npos) {
    spec.label = body.substr(at + 1);
    body.resize(at);
    if (spec.label.empty()) throw error(value, "empty run label after '@'");
    for (const char c : spec.label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) throw error(value, "a run label is letters, digits and '-'");
    }
  }
  std::optional<std::string> number;
  if (const size_t colon = body.find(':'); colon != std::string::npos) {
    number = body.substr(colon + 1);
    body.resize(colon);
  }
  for (const Name& n : kNames) {
    if (body != n.text) continue;
    spec.kind = n.kind;
    spec.number = n.default_number;
    if (!number) return spec;
    if (!n.takes_number) throw error(value, "'" + body + "' takes no number");
    if (number->empty() || number->size() > 9 || number->find_first_not_of("0123456789") != std::string::npos) {
      throw error(value, "'" + body + "' takes a decimal number of at most 9 digits after ':'");
    }
    spec.number = std::stoull(*number);
    return spec;
  }
  throw error(value, "'" + body + "' is not a known fault");
}

std::string describe(const Spec& spec) {
  for (const Name& n : kNames) {
    if (n.kind != spec.kind) continue;
    std::string text = n.text;
    if (n.takes_number) text += ":" + std::to_string(spec.number);
    if (!spec.label.empty()) text += "@" + spec.label;
    return text;
  }
  return "";
}

const Spec& active() {
  static const Spec spec = [] {
    const char* value = std::getenv(kVariable);
    return parse(value == nullptr ? "" : value);
  }();
  return spec;
}

void set_run_label(const std::string& label) { t_label = label; }

bool on(Kind kind) {
  const Spec& s = active();
  return s.kind == kind && (s.label.empty() || s.label == t_label);
}

void maybe_flip_logit(int64_t step, int64_t max_new_tokens, const std::vector<int32_t>& prompt_ids, at::Tensor& row) {
  if (!on(Kind::logit_ulp) || max_new_tokens < 1 || row.numel() == 0) return;
  TORCH_CHECK(row.scalar_type() == at::kFloat && row.is_contiguous() && row.device().is_cpu(),
              "logit-ulp fault: expected contiguous fp32 CPU logits");
  uint64_t h = mix(active().number);
  for (const int32_t id : prompt_ids) h = mix(h ^ static_cast<uint32_t>(id));
  if (static_cast<int64_t>(h % static_cast<uint64_t>(max_new_tokens)) != step) return;
  const int64_t entry = static_cast<int64_t>(mix(h ^ 0x5EEDull) % static_cast<uint64_t>(row.numel()));
  float* data = row.data_ptr<float>();
  data[entry] = std::nextafter(data[entry], std::numeric_limits<float>::infinity());
}

int64_t gemm_k_splits(int64_t M, int64_t K) {
  if (K < 64 || !on(Kind::splitk_gemm)) return 1;
  if (M == 1) return 4;
  if (M < 16) return 3;
  if (M < 128) return 2;
  return 1;
}

void set_step_sequences(int64_t n) { t_sequences = n; }

int64_t attention_kv_split() { return t_sequences == 1 && on(Kind::attention_split) ? kFaultKvSplit : 0; }

bool reverse_reduction(int64_t rows) { return rows > 1 && on(Kind::reordered_reduction); }

at::Tensor reverse_dims(const at::Tensor& x, const std::vector<bool>& reduced) {
  std::vector<int64_t> dims;
  for (size_t d = 0; d < reduced.size(); ++d) {
    if (reduced[d]) dims.push_back(static_cast<int64_t>(d));
  }
  return dims.empty() ? x : x.flip(dims);
}

bool largest_id_wins_tie() { return on(Kind::tie_break); }

bool drop_merge(int32_t rank) {
  return rank >= 0 && static_cast<uint64_t>(rank) == active().number && on(Kind::tokenizer_merge);
}

}  // namespace lockstep::kernels::fault

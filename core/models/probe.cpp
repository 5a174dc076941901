#include "core/models/probe.h"

#include "core/util/sha256.h"

namespace lockstep {

void ActivationProbe::record(int64_t layer, const char* op, const at::Tensor& rows, int64_t pos0) {
  const int64_t t = rows.size(0);
  const int64_t keep = std::min(t, last_ - pos0 + 1);
  if (keep <= 0) return;
  const at::Tensor host = rows.narrow(0, 0, keep).to(at::kCPU).contiguous();
  const auto* bytes = static_cast<const char*>(host.const_data_ptr());
  const size_t row_bytes = static_cast<size_t>(host.numel() / keep) * host.element_size();
  for (int64_t i = 0; i < keep; ++i) {
    const int64_t position = pos0 + i;
    const int64_t index = next_op_[position]++;
    digests_[{position, index}] = Entry{layer, op, sha256_hex(bytes + static_cast<size_t>(i) * row_bytes, row_bytes)};
  }
}

std::optional<ActivationPoint> ActivationProbe::first_difference(const ActivationProbe& expected,
                                                                 const ActivationProbe& actual) {
  for (const auto& [key, e] : expected.digests_) {   // ordered by position, then op
    const auto it = actual.digests_.find(key);
    if (it == actual.digests_.end()) continue;   // e.g. a prefix the other run reused
    const Entry& a = it->second;
    if (a.sha256 == e.sha256 && a.op == e.op && a.layer == e.layer) continue;
    return ActivationPoint{key.first, e.layer, e.op, e.sha256, a.sha256};
  }
  return std::nullopt;
}

}  // namespace lockstep

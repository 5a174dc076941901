// CPU argmax, smallest index on ties. A sequential scan with a strict `>`
// keeps the first maximum, which is the tie-break the contract promises.
#include <cmath>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "kernels/argmax.h"
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault.h"
#endif

namespace lockstep::kernels {

at::Tensor argmax_cpu(const at::Tensor& logits) {
  TORCH_CHECK(logits.device().is_cpu(), "argmax_cpu: tensor must be on the CPU");
  TORCH_CHECK(logits.scalar_type() == at::kFloat, "argmax: logits must be float32");
  TORCH_CHECK(logits.dim() == 1 || logits.dim() == 2, "argmax: logits must be [n] or [rows, n]");
  at::Tensor rows = logits.dim() == 1 ? logits.unsqueeze(0) : logits;
  rows = rows.contiguous();
  const int64_t n_rows = rows.size(0), n = rows.size(1);
  TORCH_CHECK(n > 0, "argmax: empty rows");
  at::Tensor out = at::empty({n_rows}, at::kLong);
  const float* data = rows.data_ptr<float>();
  int64_t* result = out.data_ptr<int64_t>();
#ifdef LOCKSTEP_FAULT_INJECTION
  const bool largest_wins = fault::largest_id_wins_tie();
#endif
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = data + r * n;
    int64_t best = 0;
    for (int64_t i = 0; i < n; ++i) {
      TORCH_CHECK(!std::isnan(row[i]), "argmax: NaN logit at row ", r, ", index ", i);
      if (row[i] > row[best]) best = i;
#ifdef LOCKSTEP_FAULT_INJECTION
      if (largest_wins && row[i] == row[best]) best = i;
#endif
    }
    result[r] = best;
  }
  return logits.dim() == 1 ? out.squeeze(0) : out;
}

}  // namespace lockstep::kernels

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "kernels/portable/ops.h"

namespace lockstep::kernels::portable {

void check_fp32(const at::Tensor& t, const char* op) {
  TORCH_CHECK(t.scalar_type() == at::kFloat, "portable mode: ", op, " needs fp32 tensors (got ", t.scalar_type(),
              "); portable mode computes in fp32 only, run it with --dtype fp32");
  TORCH_CHECK(t.layout() == at::kStrided, "portable mode: ", op, " needs dense tensors");
}

at::Tensor additive_mask(const std::optional<at::Tensor>& mask, const at::Tensor& q, const at::Tensor& k) {
  if (!mask || !mask->defined()) return {};
  std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end());
  shape.back() = k.size(-2);   // [..., Hq, Tq, Tk]
  at::Tensor m = mask->expand(shape);
  if (m.scalar_type() == at::kBool) {
    m = at::where(m, at::zeros({}, q.options()), at::full({}, -std::numeric_limits<float>::infinity(), q.options()));
  } else {
    check_fp32(m, "scaled_dot_product_attention's mask");
  }
  return m.contiguous().view({-1, q.size(-2), k.size(-2)});
}

}  // namespace lockstep::kernels::portable

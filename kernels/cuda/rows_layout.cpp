#include "kernels/cuda/rows_layout.h"

#include <ATen/WrapDimUtils.h>

#include <algorithm>

namespace lockstep::kernels::cuda::rows {

at::Tensor as_rows(const at::Tensor& x, std::vector<int64_t> reduced) {
  std::sort(reduced.begin(), reduced.end());
  std::vector<int64_t> perm;
  int64_t rows = 1, length = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (!std::binary_search(reduced.begin(), reduced.end(), d)) {
      perm.push_back(d);
      rows *= x.size(d);
    }
  }
  for (int64_t d : reduced) {
    perm.push_back(d);
    length *= x.size(d);
  }
  at::Tensor view = x.permute(perm).reshape({rows, length});
  if (length > 1 && view.stride(1) != 1) view = view.contiguous();
  return view;
}

bool can_vectorize(const at::Tensor& rows) {
  const int64_t elem = static_cast<int64_t>(rows.element_size());
  const int64_t width = elem >= 16 ? 1 : 16 / elem;
  const uint64_t address = reinterpret_cast<uint64_t>(rows.const_data_ptr());
  return rows.size(1) % width == 0 && address % 16 == 0 &&
         (rows.size(0) <= 1 || (rows.stride(0) * elem) % 16 == 0);
}

std::vector<int64_t> reduced_sizes(const at::Tensor& x, const std::vector<int64_t>& reduced, bool keepdim) {
  std::vector<int64_t> sizes;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const bool is_reduced = std::find(reduced.begin(), reduced.end(), d) != reduced.end();
    if (!is_reduced) {
      sizes.push_back(x.size(d));
    } else if (keepdim) {
      sizes.push_back(1);
    }
  }
  return sizes;
}

std::vector<int64_t> reduction_dims(const at::Tensor& x, at::OptionalIntArrayRef dims) {
  std::vector<int64_t> out;
  if (!dims.has_value() || dims->empty()) {
    for (int64_t d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : *dims) out.push_back(at::maybe_wrap_dim(d, x.dim()));
  std::sort(out.begin(), out.end());
  TORCH_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), "reduction: dim appears more than once");
  return out;
}

}  // namespace lockstep::kernels::cuda::rows

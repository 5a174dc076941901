// Shared plumbing of the CPU row kernels (softmax, reductions, norms): how
// a tensor becomes [rows, n] rows and how rows are spread over threads.
// Only whole rows go to a thread, so a row's bits never depend on the
// number of rows or threads (see lanes.h for the order within a row).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

namespace lockstep::kernels::cpu::rows {

// Fp32 and bf16 are the dtypes these kernels implement; anything else is
// refused with a message naming the op (the registration layer sends other
// dtypes to the stock kernels before they get here).
inline void check_dtype(const at::Tensor& x, const char* op) {
  TORCH_CHECK(x.device().is_cpu(), "lockstep ", op, ": expected a CPU tensor, got ", x.device());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16, "lockstep ", op,
              ": supports float32 and bfloat16, got ", x.scalar_type());
}

// Calls fn(first_row, end_row) over [0, rows) on libtorch's intra-op pool,
// giving each task enough elements to be worth a thread hop.
template <class Fn>
void for_rows(int64_t rows, int64_t n, const Fn& fn) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
  at::parallel_for(0, rows, grain, fn);
}

}  // namespace lockstep::kernels::cpu::rows

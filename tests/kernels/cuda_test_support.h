// What every CUDA kernel test needs: a clean skip where no GPU is present,
// CUDA tensor options, a tolerance per dtype, and (for the tests in
// lockstep::kernels::cuda) the invariance helpers and `ours` by name. Only
// for files built with LOCKSTEP_WITH_CUDA.
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <gtest/gtest.h>

#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cuda/ops.h"
#include "tests/kernels/invariance.h"

#define SKIP_WITHOUT_GPU() \
  if (!at::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

namespace lockstep::kernels::testing {

inline at::TensorOptions cuda_opts(at::ScalarType t) { return at::TensorOptions().device(at::kCUDA).dtype(t); }

// A test's accuracy bound against float64 for fp32, fp16 and bf16 results.
inline double tolerance_of(at::ScalarType t, double fp32, double fp16, double bf16) {
  return t == at::kFloat ? fp32 : t == at::kHalf ? fp16 : bf16;
}

}  // namespace lockstep::kernels::testing

namespace lockstep::kernels::cuda {

namespace ours = ::lockstep::kernels::cuda;
using testing::bits_equal;
using testing::check_rows_invariant;
using testing::cuda_opts;
using testing::relative_inf_error;

}  // namespace lockstep::kernels::cuda

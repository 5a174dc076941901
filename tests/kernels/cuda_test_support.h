// What every CUDA kernel test needs: a clean skip where no GPU is present
// and CUDA tensor options. Only for files built with LOCKSTEP_WITH_CUDA.
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <gtest/gtest.h>

#define SKIP_WITHOUT_GPU() \
  if (!at::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

namespace lockstep::kernels::testing {

inline at::TensorOptions cuda_opts(at::ScalarType t) { return at::TensorOptions().device(at::kCUDA).dtype(t); }

}  // namespace lockstep::kernels::testing

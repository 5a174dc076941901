// The dtypes of the fused kernels (kernels/fused.h): fp32, fp16, bf16, each
// computed in fp32 opmath as aten's elementwise kernels do.
#pragma once

#include <ATen/Dispatch.h>

#define LOCKSTEP_DISPATCH_FUSED(TYPE, NAME, ...)                \
  AT_DISPATCH_SWITCH(TYPE, NAME,                                \
                     AT_DISPATCH_CASE(at::kFloat, __VA_ARGS__)  \
                     AT_DISPATCH_CASE(at::kHalf, __VA_ARGS__)   \
                     AT_DISPATCH_CASE(at::kBFloat16, __VA_ARGS__))

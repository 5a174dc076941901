// The aten operator overloads lockstep's kernels replace (kernels/ops.def,
// registered by kernels/register.cpp under the CPU and the CUDA dispatch keys
// alike), as "name" or
// "name.overload": "sum.dim_IntList" is replaced, the full-tensor "sum" is not.
// `lockstep scan` calls an op invariant only if its overload is listed here;
// kernels_test checks that the dispatcher holds lockstep's kernel for exactly
// these overloads.
#pragma once

#include <string>
#include <vector>

namespace lockstep::kernels {

const std::vector<std::string>& registered_overloads();

}  // namespace lockstep::kernels

// Fixed reduction geometry shared by lockstep's CPU and CUDA kernels. These
// numbers are part of the result's definition: changing one changes bits.
#pragma once

#include <cstdint>

namespace lockstep::kernels {

// Attention: keys are reduced in splits of this many positions, at fixed
// boundaries, whatever the batch or the number of free SMs.
constexpr int64_t kKvSplit = 256;

}  // namespace lockstep::kernels

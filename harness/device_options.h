// --device and --dtype: where and in which precision the model runs.
#pragma once

#include <string>

#include "core/models/decoder.h"

namespace lockstep::harness {

// device: "cpu" or "cuda" (or "cuda:N"); dtype: "fp32", "bf16" or "fp16".
// bad_input for other values and for fp16 on the CPU; environment_error for
// cuda on a machine without a CUDA GPU.
LoadOptions parse_load_options(const std::string& device, const std::string& dtype);

std::string dtype_name(at::ScalarType dtype);

inline constexpr const char* kDeviceHelp = "Where the model runs: cpu or cuda[:N]";
inline constexpr const char* kDtypeHelp = "Weights and activations: fp32, bf16, or fp16 (CUDA only)";

}  // namespace lockstep::harness

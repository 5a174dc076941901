#include "harness/device_options.h"

#include <ATen/Context.h>

#include "core/error.h"

namespace lockstep::harness {

LoadOptions parse_load_options(const std::string& device, const std::string& dtype) {
  LoadOptions o;
  if (dtype == "fp32" || dtype == "float32") {
    o.dtype = at::kFloat;
  } else if (dtype == "bf16" || dtype == "bfloat16") {
    o.dtype = at::kBFloat16;
  } else if (dtype == "fp16" || dtype == "float16") {
    o.dtype = at::kHalf;
  } else {
    throw bad_input("--dtype must be fp32, bf16 or fp16, not '" + dtype + "'");
  }
  if (device == "cpu") {
    o.device = at::kCPU;
    if (o.dtype == at::kHalf) throw bad_input("--dtype fp16 runs on CUDA only; use fp32 or bf16 on the CPU");
    return o;
  }
  if (device.rfind("cuda", 0) != 0) throw bad_input("--device must be cpu or cuda[:N], not '" + device + "'");
  try {
    o.device = at::Device(device);
  } catch (const std::exception&) {
    throw bad_input("--device must be cpu or cuda[:N], not '" + device + "'");
  }
  if (!at::globalContext().hasCUDA()) throw environment_error("--device " + device + ": no CUDA GPU on this machine");
  return o;
}

std::string dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "fp32";
    case at::kBFloat16: return "bf16";
    case at::kHalf: return "fp16";
    default: return "unknown";
  }
}

}  // namespace lockstep::harness

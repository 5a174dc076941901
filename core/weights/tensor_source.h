// A read-only set of named tensors, whatever the file format: one
// safetensors file, a sharded safetensors folder, or a GGUF file seen under
// Hugging Face tensor names. Models are built from this interface only, so a
// model loads the same way from every format.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep {

struct TensorMeta {
  std::vector<int64_t> shape;   // row-major, as torch sees it
  std::string dtype;            // stored type: "F32", "F16", "BF16", "Q4_1", ...
  int64_t n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // For messages: the file or folder the tensors come from.
  virtual const std::string& origin() const = 0;
  virtual std::vector<std::string> names() const = 0;
  // nullptr if there is no tensor of that name.
  virtual const TensorMeta* find(const std::string& name) const = 0;
  // Writes the tensor's n_elements() values as fp32 (exact for F32/F16/BF16,
  // dequantized for quantized types) into `out`. bad_input if absent.
  virtual void read_f32(const std::string& name, float* out) const = 0;
};

}  // namespace lockstep

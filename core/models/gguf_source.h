// A GGUF file seen as a Hugging Face checkpoint: the model config read from
// its metadata and its tensors under HF names. ggml's llama converter permutes
// the rows of q/k so that ggml's RoPE rotates adjacent pairs; this source
// undoes that permutation, so the model runs the HF formulation
// (rotate_half) on GGUF and safetensors weights alike.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/models/model_config.h"
#include "core/weights/tensor_source.h"

namespace lockstep::gguf { class File; }

namespace lockstep {

// bad_input for an architecture other than llama, or implausible values.
ModelConfig gguf_model_config(const gguf::File& file);

class GgufSource : public TensorSource {
 public:
  // `file` must outlive the source.
  GgufSource(const gguf::File& file, const ModelConfig& config);
  const std::string& origin() const override;
  std::vector<std::string> names() const override;
  const TensorMeta* find(const std::string& name) const override;
  void read_f32(const std::string& name, float* out) const override;

 private:
  struct Entry {
    std::string gguf_name;
    TensorMeta meta;
    int64_t unpermute_heads = 0;   // > 0: undo ggml's q/k row permutation
  };
  const gguf::File& file_;
  std::map<std::string, Entry> entries_;
};

}  // namespace lockstep

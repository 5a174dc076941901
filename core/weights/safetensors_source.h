// TensorSource over safetensors: one .safetensors file, or a Hugging Face
// model folder (sharded when it has model.safetensors.index.json, else its
// model.safetensors). A sharded checkpoint is validated as a whole when it
// opens: every shard the index names exists and parses, every mapped tensor
// is in the shard the index says, and no tensor name appears in two shards
// or in a shard without being mapped.
#pragma once

#include <memory>
#include <string>

#include "core/weights/tensor_source.h"

namespace lockstep {

// `path`: a .safetensors file, a model.safetensors.index.json, or a folder
// holding one of them. environment_error if nothing is there to open;
// bad_input for anything malformed.
std::unique_ptr<TensorSource> open_safetensors(const std::string& path);

}  // namespace lockstep

// Hugging Face config.json -> ModelConfig, for the families lockstep runs:
// gpt2, llama (also SmolLM2, TinyLlama), mistral, qwen2 and qwen3. Both the
// transformers 4 spelling (rope_theta + rope_scaling) and the transformers 5
// one (rope_parameters) are read. Every number is checked (positive, in a
// plausible range, heads divisible by kv heads, head_dim even for RoPE) and
// every error is a bad_input naming the file, the key and what was expected.
// Options that would change the math and that lockstep does not implement
// (per-layer sliding windows, dynamic/yarn RoPE, partial rotary, ...) are
// rejected rather than ignored.
#pragma once

#include <string>
#include <vector>

#include "core/models/model_config.h"

namespace lockstep {

// The model_type values parse_hf_config accepts.
const std::vector<std::string>& supported_model_types();

// `json_text`: the contents of a config.json; `origin` names it in errors.
ModelConfig parse_hf_config(const std::string& json_text, const std::string& origin);

// `path`: a config.json, or a model folder holding one. environment_error
// if it cannot be read.
ModelConfig read_hf_config(const std::string& path);

}  // namespace lockstep

// RoPE tables as transformers builds them (inv_freq = 1 / base^(2i/d), with
// Llama-3 or linear scaling applied to inv_freq; angle = position * inv_freq as
// one fp32 product; then cos and sin), computed once on the host by a scalar
// loop in double and rounded to fp32. Stock at::pow/cos/sin round the tail of
// each thread's chunk with another formula than the vector body, so their bits
// depend on the thread count and the ISA; glibc's double pow/cos/sin do not:
// every x86 machine and thread count gets the same tables.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "core/models/model_config.h"

namespace lockstep {

// inv_freq for head_dim / 2 frequencies, after the config's scaling.
// own_math: lockstep's own pow/sin/cos (kernels/portable/math.h) instead of glibc's, so the tables
// do not depend on the host's C library (portable mode).
std::vector<float> rope_inverse_frequencies(const ModelConfig& config, bool own_math = false);

// {cos, sin}: fp32 CPU [positions, head_dim], each half repeating the
// frequencies (the rotate_half layout).
std::pair<at::Tensor, at::Tensor> rope_tables(const ModelConfig& config, int64_t positions, bool own_math = false);

}  // namespace lockstep

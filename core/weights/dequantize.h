// Dequantization of ggml block formats to float32. Each function reads
// n_elements / block_size blocks from `src` and writes n_elements floats.
// Arithmetic follows the reference definitions element by element (scale,
// then offset, with no fused multiply-add) so the result is bitwise equal to
// the gguf Python package's numpy dequantization.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/weights/gguf.h"

namespace lockstep::gguf {

// Elements per block and bytes per block of a type; (1, 4) for F32.
struct BlockLayout {
  int64_t elements;
  int64_t bytes;
};
// bad_input for types this build cannot dequantize.
BlockLayout block_layout(TensorType type);
bool can_dequantize(TensorType type);

void dequantize(TensorType type, const uint8_t* src, int64_t n_elements, float* dst);

float half_to_float(uint16_t h);
float bf16_to_float(uint16_t h);

}  // namespace lockstep::gguf

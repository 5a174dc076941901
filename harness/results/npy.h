// NumPy .npy files (format version 1.0), written by hand so the logits dump
// needs no Python: magic "\x93NUMPY", version 1.0, a little-endian uint16
// header length, a Python-literal header dict padded with spaces and a
// newline so the data starts at a multiple of 64 bytes, then the raw
// little-endian C-order data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep::harness {

// The preamble (magic, version, length, dict) for a float32 C-order array.
// bad_input for a negative dimension.
std::string npy_header_f32(const std::vector<int64_t>& shape);

// Writes `data` (product(shape) floats, C order) atomically.
void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape,
                   const std::vector<float>& data);

}  // namespace lockstep::harness

#include "harness/results/npy.h"

#include <cstring>

#include "core/error.h"
#include "harness/atomic_file.h"

namespace lockstep::harness {
namespace {

constexpr size_t kAlignment = 64;   // numpy >= 1.14 aligns data to 64 bytes
constexpr size_t kPreamble = 10;    // magic (6) + version (2) + header length (2)

std::string shape_literal(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) throw bad_input("npy: negative dimension " + std::to_string(shape[i]));
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";   // a one-element Python tuple needs the comma
  return out + ")";
}

void append_le32(std::string& out, uint32_t bits) {
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>((bits >> (8 * b)) & 0xff));
}

}  // namespace

std::string npy_header_f32(const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_literal(shape) + ", }";
  const size_t unpadded = kPreamble + dict.size() + 1;   // +1: the closing newline
  const size_t padding = (kAlignment - unpadded % kAlignment) % kAlignment;
  dict.append(padding, ' ');
  dict.push_back('\n');
  if (dict.size() > 0xffff) throw bad_input("npy: shape too long for a version 1.0 header");

  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(dict.size() & 0xff));
  out.push_back(static_cast<char>(dict.size() >> 8));
  return out + dict;
}

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape,
                   const std::vector<float>& data) {
  std::string bytes = npy_header_f32(shape);
  size_t count = 1;
  for (int64_t d : shape) count *= static_cast<size_t>(d);
  if (count != data.size()) {
    throw bad_input("npy: shape holds " + std::to_string(count) + " elements, data has " +
                    std::to_string(data.size()));
  }
  bytes.reserve(bytes.size() + 4 * data.size());
  // Byte by byte from the bit pattern: little-endian whatever the host is.
  for (float value : data) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    append_le32(bytes, bits);
  }
  write_file_atomically(path, bytes);
}

}  // namespace lockstep::harness

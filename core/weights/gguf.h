// GGUF reader (version 2 and 3). The file is memory-mapped; every count,
// size and offset is validated against the file size before anything is
// allocated, so a truncated or corrupt file fails with lockstep::Error
// (bad_input) naming the file and what was wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/weights/parsed_file.h"

namespace lockstep::gguf {

// ggml tensor types this reader knows (values as in the GGUF spec).
enum class TensorType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8,
  Q8_1 = 9, Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14,
  Q8_K = 15, BF16 = 30,
};
std::string_view type_name(TensorType type);

// A metadata value. Arrays hold scalars or strings (nested arrays are
// rejected: no model file uses them).
using Scalar = std::variant<uint64_t, int64_t, double, bool, std::string>;
struct Value {
  Scalar scalar;                 // meaningful when !is_array
  bool is_array = false;
  std::vector<Scalar> array;     // meaningful when is_array
};

struct TensorInfo {
  std::string name;
  TensorType type;
  std::vector<int64_t> dims;     // GGUF order: dims[0] is the contiguous one
  uint64_t offset = 0;           // from the start of the tensor data section
  uint64_t n_bytes = 0;
  int64_t n_elements() const;
  // Row-major shape as torch sees it: dims reversed.
  std::vector<int64_t> shape() const;
};

struct FileImpl;  // the parse result, defined in the .cpp

// open(path), from_bytes(data, size, name), path(), tensors(), find(name)
// (nullptr if absent) and tensor(name) (bad_input if absent) come from ParsedFile.
class File : public ParsedFile<File, FileImpl, TensorInfo> {
 public:
  uint32_t version() const;
  const std::map<std::string, Value>& metadata() const;
  bool has(const std::string& key) const;

  // Typed accessors: a missing key or a value of another type is a
  // bad_input error naming the key.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;       // any integer type
  double get_float(const std::string& key) const;      // float or integer
  bool get_bool(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<int64_t> get_int_array(const std::string& key) const;
  // Optional variants return `fallback` when the key is absent.
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_float(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;

  // Raw bytes of a tensor inside the mapping.
  const uint8_t* tensor_data(const TensorInfo& info) const;
  // Dequantize into `out`, which holds info.n_elements() floats.
  void dequantize(const TensorInfo& info, float* out) const;

 private:
  friend ParsedFile;
  using ParsedFile::ParsedFile;
};

}  // namespace lockstep::gguf

extern template class lockstep::ParsedFile<lockstep::gguf::File, lockstep::gguf::FileImpl,
                                            lockstep::gguf::TensorInfo>;

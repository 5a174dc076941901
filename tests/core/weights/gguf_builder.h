// A small GGUF writer for tests: metadata and tensors are collected in
// memory and serialized the way llama.cpp's writer does (little-endian,
// tensor data aligned). Tests corrupt the result on purpose, so the writer
// checks nothing and offers hooks to write invalid files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lockstep::testing {

// GGUF metadata value types (spec numbering).
enum class GType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

class GgufBuilder {
 public:
  struct Tensor {
    std::string name;
    uint32_t type = 0;
    std::vector<uint64_t> dims;
    std::vector<uint8_t> data;
    std::optional<uint64_t> offset;  // default: next aligned position
    bool write_data = true;          // false: leave the data out of the file
  };

  GgufBuilder& version(uint32_t v);
  // Alignment used to lay out the data; also written as general.alignment
  // unless `write_key` is false.
  GgufBuilder& alignment(uint32_t a, bool write_key = true);

  GgufBuilder& add_u8(const std::string& key, uint8_t v);
  GgufBuilder& add_i8(const std::string& key, int8_t v);
  GgufBuilder& add_u16(const std::string& key, uint16_t v);
  GgufBuilder& add_i16(const std::string& key, int16_t v);
  GgufBuilder& add_u32(const std::string& key, uint32_t v);
  GgufBuilder& add_i32(const std::string& key, int32_t v);
  GgufBuilder& add_f32(const std::string& key, float v);
  GgufBuilder& add_bool(const std::string& key, bool v);
  GgufBuilder& add_string(const std::string& key, const std::string& v);
  GgufBuilder& add_u64(const std::string& key, uint64_t v);
  GgufBuilder& add_i64(const std::string& key, int64_t v);
  GgufBuilder& add_f64(const std::string& key, double v);
  GgufBuilder& add_string_array(const std::string& key, const std::vector<std::string>& v);
  GgufBuilder& add_i32_array(const std::string& key, const std::vector<int32_t>& v);
  GgufBuilder& add_u8_array(const std::string& key, const std::vector<uint8_t>& v);
  GgufBuilder& add_f32_array(const std::string& key, const std::vector<float>& v);
  // Any value: `payload` is everything after the type field.
  GgufBuilder& add_raw(const std::string& key, uint32_t type, const std::vector<uint8_t>& payload);

  // Returns the tensor so a test can tweak it (offset, type, dims).
  Tensor& add_tensor(const std::string& name, uint32_t type, std::vector<uint64_t> dims,
                     std::vector<uint8_t> data);
  Tensor& add_f32_tensor(const std::string& name, std::vector<uint64_t> dims,
                         const std::vector<float>& values);

  std::vector<uint8_t> build() const;

 private:
  struct Kv {
    std::string key;
    uint32_t type;
    std::vector<uint8_t> payload;
  };
  uint32_t version_ = 3;
  uint32_t alignment_ = 32;
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

// Little-endian append helpers, for hand-made payloads.
void put_u32(std::vector<uint8_t>& out, uint32_t v);
void put_u64(std::vector<uint8_t>& out, uint64_t v);
void put_string(std::vector<uint8_t>& out, const std::string& s);

// A uniquely named file in the test temp directory, removed on destruction.
class TempFile {
 public:
  explicit TempFile(const std::vector<uint8_t>& bytes);
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();
  const std::string& path() const { return path_; }
  void rewrite(const std::vector<uint8_t>& bytes) const;

 private:
  std::string path_;
};

}  // namespace lockstep::testing

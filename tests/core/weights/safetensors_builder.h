// A small safetensors writer for tests, laid out as the reference writer
// does (tensors packed in order, header padded with spaces to 8 bytes).
// Tests corrupt the result on purpose, so the writer checks nothing: a
// tensor's dtype and offsets may be set to anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lockstep::testing {

class SafetensorsBuilder {
 public:
  struct Tensor {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
    // Default: packed after the previous tensor.
    std::optional<std::pair<uint64_t, uint64_t>> offsets;
  };

  SafetensorsBuilder& metadata(const std::string& key, const std::string& value);
  Tensor& add(const std::string& name, const std::string& dtype, std::vector<int64_t> shape,
              std::vector<uint8_t> data);
  Tensor& add_f32(const std::string& name, std::vector<int64_t> shape,
                  const std::vector<float>& values);
  Tensor& add_u16(const std::string& name, const std::string& dtype, std::vector<int64_t> shape,
                  const std::vector<uint16_t>& values);  // F16 or BF16 bit patterns

  std::string header() const;          // the JSON header, unpadded
  std::vector<uint8_t> build() const;  // length + padded header + data

  // A file from a hand-written header and data section.
  static std::vector<uint8_t> raw(const std::string& header, const std::vector<uint8_t>& data = {});

 private:
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::vector<Tensor> tensors_;
};

// A uniquely named directory in the test temp directory, removed with its
// contents on destruction.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) const;
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

}  // namespace lockstep::testing

// A read-only memory mapping of a whole file, shared by the weight readers.
// The mapping is private and read-only, so the readers can hand out pointers
// into it for as long as the object lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lockstep {

class MappedFile {
 public:
  // environment_error if the file cannot be opened, is not a regular file,
  // or cannot be mapped. An empty file maps to data() == nullptr, size() 0.
  explicit MappedFile(const std::string& path);
  // Borrows `size` bytes at `data` (not copied, not unmapped): the parsers'
  // in-memory entry points (fuzzing, tests). The bytes must outlive this.
  MappedFile(const uint8_t* data, size_t size) : data_(data), size_(size), owned_(false) {}
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool owned_ = true;
};

}  // namespace lockstep

// The frame the weight readers' File classes share (gguf::File,
// safetensors::File). A File is a format's parse result, `Impl` (a
// MappedParse), behind a pointer: Impl is defined in the reader's .cpp, so the
// public header names no parser types. A File opens a path (memory-mapped) or
// parses borrowed bytes (fuzzing, tests), lists and finds its tensors, moves
// and does not copy.
//
// A reader declares `class File : public ParsedFile<File, FileImpl, TensorInfo>`
// and, in its .cpp where FileImpl is complete, instantiates the frame once with
// `template class lockstep::ParsedFile<...>;` at file scope (its header says
// `extern template`, so no other file tries to).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/weights/mapped_file.h"

namespace lockstep {

// A file's tensors in the order the reader adds them, with an index by name.
template <class Info>
struct TensorTable {
  std::vector<Info> list;
  std::unordered_map<std::string, size_t> index;

  // False, and nothing added, when a tensor of that name is already there.
  bool add(Info info) {
    if (!index.emplace(info.name, list.size()).second) return false;
    list.push_back(std::move(info));
    return true;
  }
  const Info* find(const std::string& name) const {
    auto it = index.find(name);
    return it == index.end() ? nullptr : &list[it->second];
  }
};

// What every format's Impl holds besides its own metadata: the path (or the
// name that stands for it in messages), the bytes, where the data section
// starts (set by the Impl's parse()) and the tensors.
template <class Info>
struct MappedParse {
  std::string path;
  MappedFile mapping;
  uint64_t data_start = 0;
  TensorTable<Info> tensors;

  explicit MappedParse(const std::string& p) : path(p), mapping(p) {}
  MappedParse(const uint8_t* data, size_t size, const std::string& name)
      : path(name), mapping(data, size) {}

  // The `n_bytes` at `offset` in the data section, for the tensor `name`;
  // bad_input when they do not lie inside the file (a TensorInfo the caller
  // made up, or one of another file: never a pointer outside the mapping).
  const uint8_t* section(const std::string& name, uint64_t offset, uint64_t n_bytes) const {
    const uint64_t size = mapping.size();
    const uint64_t avail = data_start <= size ? size - data_start : 0;
    if (offset > avail || n_bytes > avail - offset) {
      throw bad_input(path + ": tensor '" + name + "' lies outside the file");
    }
    return mapping.data() + data_start + offset;
  }
};

template <class File, class Impl, class Info>
class ParsedFile {
 public:
  static File open(const std::string& path);
  // The same parse over bytes in memory (fuzzing, tests); `name` stands for
  // the path in messages. The bytes are borrowed and must outlive the File.
  static File from_bytes(const uint8_t* data, size_t size, const std::string& name);
  ParsedFile(ParsedFile&&) noexcept;
  ParsedFile& operator=(ParsedFile&&) noexcept;
  ~ParsedFile();

  const std::string& path() const;
  const std::vector<Info>& tensors() const;
  const Info* find(const std::string& name) const;    // nullptr if absent
  const Info& tensor(const std::string& name) const;  // bad_input if absent

 protected:
  explicit ParsedFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Defined out of the class, so not inline: an `extern template` declaration
// keeps every file but the reader's .cpp from instantiating them.
template <class File, class Impl, class Info>
ParsedFile<File, Impl, Info>::ParsedFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
template <class File, class Impl, class Info>
ParsedFile<File, Impl, Info>::ParsedFile(ParsedFile&&) noexcept = default;
template <class File, class Impl, class Info>
ParsedFile<File, Impl, Info>& ParsedFile<File, Impl, Info>::operator=(ParsedFile&&) noexcept = default;
template <class File, class Impl, class Info>
ParsedFile<File, Impl, Info>::~ParsedFile() = default;

template <class File, class Impl, class Info>
File ParsedFile<File, Impl, Info>::open(const std::string& path) {
  auto impl = std::make_unique<Impl>(path);
  impl->parse();
  return File(std::move(impl));
}

template <class File, class Impl, class Info>
File ParsedFile<File, Impl, Info>::from_bytes(const uint8_t* data, size_t size, const std::string& name) {
  auto impl = std::make_unique<Impl>(data, size, name);
  impl->parse();
  return File(std::move(impl));
}

template <class File, class Impl, class Info>
const std::string& ParsedFile<File, Impl, Info>::path() const {
  return impl_->path;
}

template <class File, class Impl, class Info>
const std::vector<Info>& ParsedFile<File, Impl, Info>::tensors() const {
  return impl_->tensors.list;
}

template <class File, class Impl, class Info>
const Info* ParsedFile<File, Impl, Info>::find(const std::string& name) const {
  return impl_->tensors.find(name);
}

template <class File, class Impl, class Info>
const Info& ParsedFile<File, Impl, Info>::tensor(const std::string& name) const {
  const Info* info = find(name);
  if (info == nullptr) throw bad_input(impl_->path + ": no tensor named '" + name + "'");
  return *info;
}

}  // namespace lockstep

// safetensors reader (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype,
// shape and [begin, end) byte range in the data section that follows, and
// an optional "__metadata__" map of strings. The file is memory-mapped;
// the header is bounded and every shape and range is validated against the
// file size before any tensor is touched, so a truncated or corrupt file
// fails with lockstep::Error (bad_input) naming the file and what is wrong.
// Sharded checkpoints (model.safetensors.index.json) are read by
// read_shard_index here and assembled in core/weights/safetensors_source.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/weights/parsed_file.h"

namespace lockstep::safetensors {

// Every dtype the format defines with a whole number of bytes per element.
// Only F32, F16 and BF16 can be read as fp32; a tensor of another known
// dtype opens fine and fails when read.
enum class DType {
  BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16,
  I32, U32, F32, F64, I64, U64, C64,
};
std::string_view dtype_name(DType dtype);
uint64_t dtype_size(DType dtype);       // bytes per element
bool can_read_f32(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;           // row-major; empty for a scalar
  uint64_t begin = 0;                   // data_offsets, from the start of
  uint64_t end = 0;                     // the data section (after the header)
  int64_t n_elements() const;
};

// Largest header accepted (the reference implementation's limit too).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct FileImpl;  // the parse result, defined in the .cpp

// open(path), from_bytes(data, size, name), path(), tensors(), find(name)
// (nullptr if absent) and tensor(name) (bad_input if absent) come from ParsedFile.
class File : public ParsedFile<File, FileImpl, TensorInfo> {
 public:
  const std::map<std::string, std::string>& metadata() const;  // "__metadata__"
  // tensors() are sorted by name.
  // Raw bytes of a tensor inside the mapping (end - begin of them).
  const uint8_t* data(const TensorInfo& info) const;
  // Writes info.n_elements() fp32 values (exact for F32/F16/BF16) into
  // `out`; bad_input naming the dtype for the others.
  void read_f32(const TensorInfo& info, float* out) const;

 private:
  friend ParsedFile;
  using ParsedFile::ParsedFile;
};

// model.safetensors.index.json: which shard file holds each tensor. Shard
// names are plain file names in the index's folder (no '/', not "." or "..").
struct ShardIndex {
  std::string path;                                 // of the index file
  std::map<std::string, std::string> weight_map;    // tensor name -> shard file name
  std::vector<std::string> shards() const;          // distinct shard names, sorted
};
ShardIndex read_shard_index(const std::string& path);

}  // namespace lockstep::safetensors

extern template class lockstep::ParsedFile<lockstep::safetensors::File, lockstep::safetensors::FileImpl,
                                            lockstep::safetensors::TensorInfo>;

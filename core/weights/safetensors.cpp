#include "core/weights/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/weights/dequantize.h"
#include "core/weights/mapped_file.h"

namespace lockstep::safetensors {
namespace {

using nlohmann::json;

struct DTypeRow {
  DType dtype;
  const char* name;
  uint64_t size;
};
constexpr DTypeRow kDTypes[] = {
    {DType::BOOL, "BOOL", 1},       {DType::U8, "U8", 1},     {DType::I8, "I8", 1},
    {DType::F8_E5M2, "F8_E5M2", 1}, {DType::F8_E4M3, "F8_E4M3", 1},
    {DType::F8_E8M0, "F8_E8M0", 1}, {DType::I16, "I16", 2},   {DType::U16, "U16", 2},
    {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4},
    {DType::U32, "U32", 4},         {DType::F32, "F32", 4},   {DType::F64, "F64", 8},
    {DType::I64, "I64", 8},         {DType::U64, "U64", 8},   {DType::C64, "C64", 8},
};

const DTypeRow* find_dtype(const std::string& name) {
  for (const DTypeRow& row : kDTypes) {
    if (name == row.name) return &row;
  }
  return nullptr;
}

const DTypeRow& row_of(DType dtype) {
  for (const DTypeRow& row : kDTypes) {
    if (row.dtype == dtype) return row;
  }
  return kDTypes[0];  // unreachable: the table lists every enumerator
}

// The header is the only JSON read from an untrusted file, so the parse is
// bounded: nesting deeper than a valid header needs (object > tensor entry
// > shape) is rejected, and so are duplicate keys, which nlohmann would
// otherwise resolve silently by keeping the last one.
constexpr int kMaxHeaderDepth = 3;

json parse_header(const std::string& path, const char* begin, const char* end) {
  std::vector<std::set<std::string>> open_objects;
  int depth = 0;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (++depth > kMaxHeaderDepth) {
          throw bad_input(path + ": header JSON is nested deeper than " +
                          std::to_string(kMaxHeaderDepth) + " levels");
        }
        if (event == json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        --depth;
        open_objects.pop_back();
        break;
      case json::parse_event_t::array_end:
        --depth;
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second) {
          throw bad_input(path + ": header JSON has the key '" + parsed.get<std::string>() +
                          "' twice in one object");
        }
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(begin, end, callback);
  } catch (const json::exception& e) {
    throw bad_input(path + ": header is not valid JSON: " + e.what());
  }
}

// A non-negative JSON integer; nlohmann stores those as number_unsigned
// (and integers too large for uint64 as floats, which are rejected here).
bool as_u64(const json& v, uint64_t* out) {
  if (!v.is_number_unsigned()) return false;
  *out = v.get<uint64_t>();
  return true;
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const json& entry,
                       uint64_t data_size) {
  const std::string where = path + ": tensor '" + name + "'";
  if (name.empty()) throw bad_input(path + ": a tensor has an empty name");
  if (!entry.is_object()) throw bad_input(where + ": entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) throw bad_input(where + ": '" + key + "' is missing");
  }
  TensorInfo info;
  info.name = name;

  const json& dtype = entry["dtype"];
  if (!dtype.is_string()) throw bad_input(where + ": 'dtype' is not a string");
  const DTypeRow* row = find_dtype(dtype.get<std::string>());
  if (row == nullptr) {
    throw bad_input(where + ": unknown dtype '" + dtype.get<std::string>() + "'");
  }
  info.dtype = row->dtype;

  const json& shape = entry["shape"];
  if (!shape.is_array()) throw bad_input(where + ": 'shape' is not an array");
  uint64_t n_elements = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    uint64_t d = 0;
    if (!as_u64(shape[i], &d)) {
      throw bad_input(where + ": shape[" + std::to_string(i) + "] is not a non-negative integer");
    }
    const uint64_t max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (d > max || (d != 0 && n_elements > max / d)) {
      throw bad_input(where + ": shape[" + std::to_string(i) + "] = " + std::to_string(d) +
                      " makes the element count overflow");
    }
    n_elements *= d;
    info.shape.push_back(static_cast<int64_t>(d));
  }
  if (n_elements > std::numeric_limits<uint64_t>::max() / row->size) {
    throw bad_input(where + ": byte size overflows");
  }
  const uint64_t n_bytes = n_elements * row->size;

  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !as_u64(offsets[0], &info.begin) ||
      !as_u64(offsets[1], &info.end)) {
    throw bad_input(where + ": 'data_offsets' is not a pair of non-negative integers");
  }
  if (info.begin > info.end) {
    throw bad_input(where + ": data_offsets [" + std::to_string(info.begin) + ", " +
                    std::to_string(info.end) + "] end before they begin");
  }
  if (info.end > data_size) {
    throw bad_input(path + ": truncated: tensor '" + name + "' data_offsets [" +
                    std::to_string(info.begin) + ", " + std::to_string(info.end) +
                    "] extend past the " + std::to_string(data_size) +
                    "-byte data section");
  }
  if (info.end - info.begin != n_bytes) {
    throw bad_input(where + ": data_offsets [" + std::to_string(info.begin) + ", " +
                    std::to_string(info.end) + "] hold " + std::to_string(info.end - info.begin) +
                    " bytes, but shape and dtype " + row->name + " need " +
                    std::to_string(n_bytes));
  }
  return info;
}

// Shared bytes would let a write through one tensor show in another (and
// the reference writer never produces them), so overlaps are corruption.
void check_no_overlaps(const std::string& path, std::vector<const TensorInfo*> by_begin) {
  std::sort(by_begin.begin(), by_begin.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const TensorInfo* prev = nullptr;
  for (const TensorInfo* t : by_begin) {
    if (t->begin == t->end) continue;  // empty tensors occupy no bytes
    if (prev != nullptr && t->begin < prev->end) {
      throw bad_input(path + ": tensors '" + prev->name + "' [" + std::to_string(prev->begin) +
                      ", " + std::to_string(prev->end) + ") and '" + t->name + "' [" +
                      std::to_string(t->begin) + ", " + std::to_string(t->end) + ") overlap");
    }
    prev = t;
  }
}

}  // namespace

std::string_view dtype_name(DType dtype) { return row_of(dtype).name; }
uint64_t dtype_size(DType dtype) { return row_of(dtype).size; }
bool can_read_f32(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

struct FileImpl : MappedParse<TensorInfo> {
  std::map<std::string, std::string> metadata;

  using MappedParse::MappedParse;
  void parse();
};

void FileImpl::parse() {
  const uint64_t size = mapping.size();
  if (size < 8) {
    throw bad_input(path + ": truncated: " + std::to_string(size) +
                    " bytes, shorter than the 8-byte header length of a safetensors file");
  }
  uint64_t header_len = 0;
  std::memcpy(&header_len, mapping.data(), 8);  // host is little-endian, as the file
  if (header_len > kMaxHeaderBytes) {
    throw bad_input(path + ": header length " + std::to_string(header_len) +
                    " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                    " bytes (not a safetensors file, or corrupt)");
  }
  if (header_len > size - 8) {
    throw bad_input(path + ": truncated: header length " + std::to_string(header_len) +
                    " but the file has only " + std::to_string(size - 8) +
                    " bytes after the length field");
  }
  data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  const char* text = reinterpret_cast<const char*>(mapping.data() + 8);
  const json header = parse_header(path, text, text + header_len);
  if (!header.is_object()) throw bad_input(path + ": header is not a JSON object");

  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw bad_input(path + ": '__metadata__' is not a JSON object");
      for (const auto& [mkey, mvalue] : value.items()) {
        if (!mvalue.is_string()) {
          throw bad_input(path + ": '__metadata__' value of '" + mkey + "' is not a string");
        }
        metadata.emplace(mkey, mvalue.get<std::string>());
      }
      continue;
    }
    // items() are sorted by key, and a JSON object's keys are unique: add() always adds.
    tensors.add(parse_entry(path, key, value, data_size));
  }
  std::vector<const TensorInfo*> ptrs;
  ptrs.reserve(tensors.list.size());
  for (const TensorInfo& t : tensors.list) ptrs.push_back(&t);
  check_no_overlaps(path, std::move(ptrs));
}

const std::map<std::string, std::string>& File::metadata() const { return impl_->metadata; }
const uint8_t* File::data(const TensorInfo& info) const {
  // end < begin (a made-up info) counts as too long: it fails like any range outside the file.
  const uint64_t n_bytes = info.end >= info.begin ? info.end - info.begin : UINT64_MAX;
  return impl_->section(info.name, info.begin, n_bytes);
}

void File::read_f32(const TensorInfo& info, float* out) const {
  if (!can_read_f32(info.dtype)) {
    throw bad_input(impl_->path + ": tensor '" + info.name + "' has dtype " +
                    std::string(dtype_name(info.dtype)) +
                    ", which lockstep cannot read as floats (supported: F32, F16, BF16)");
  }
  const int64_t n = info.n_elements();
  if (n < 0 || static_cast<uint64_t>(n) * dtype_size(info.dtype) != info.end - info.begin) {
    throw bad_input(impl_->path + ": tensor '" + info.name + "' has inconsistent size");
  }
  if (n == 0) return;
  const gguf::TensorType type = info.dtype == DType::F32   ? gguf::TensorType::F32
                                : info.dtype == DType::F16 ? gguf::TensorType::F16
                                                           : gguf::TensorType::BF16;
  gguf::dequantize(type, data(info), n, out);  // exact widening for these three
}

// ---- sharded checkpoints -------------------------------------------------

std::vector<std::string> ShardIndex::shards() const {
  std::set<std::string> names;
  for (const auto& [tensor, shard] : weight_map) names.insert(shard);
  return {names.begin(), names.end()};
}

ShardIndex read_shard_index(const std::string& path) {
  MappedFile file(path);
  const char* text = reinterpret_cast<const char*>(file.data());
  json root;
  try {
    root = json::parse(text, text + file.size());
  } catch (const json::exception& e) {
    throw bad_input(path + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) throw bad_input(path + ": not a JSON object");
  if (!root.contains("weight_map")) throw bad_input(path + ": 'weight_map' is missing");
  const json& map = root["weight_map"];
  if (!map.is_object()) throw bad_input(path + ": 'weight_map' is not a JSON object");
  if (map.empty()) throw bad_input(path + ": 'weight_map' is empty");
  ShardIndex index;
  index.path = path;
  for (const auto& [name, shard] : map.items()) {
    if (!shard.is_string()) {
      throw bad_input(path + ": weight_map entry of '" + name + "' is not a string");
    }
    std::string file_name = shard.get<std::string>();
    // The index is untrusted: it may only name files beside it.
    if (file_name.empty() || file_name == "." || file_name == ".." ||
        file_name.find('/') != std::string::npos || file_name.find('\0') != std::string::npos) {
      throw bad_input(path + ": weight_map entry of '" + name + "' names '" + file_name +
                      "', which is not a plain file name in the index's folder");
    }
    index.weight_map.emplace(name, std::move(file_name));
  }
  return index;
}

}  // namespace lockstep::safetensors

// The frame's code, compiled here where FileImpl is complete.
template class lockstep::ParsedFile<lockstep::safetensors::File, lockstep::safetensors::FileImpl,
                                     lockstep::safetensors::TensorInfo>;

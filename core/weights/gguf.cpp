#include "core/weights/gguf.h"

#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/weights/dequantize.h"
#include "core/weights/mapped_file.h"

namespace lockstep::gguf {
namespace {

// GGUF metadata value types, as numbered by the spec.
enum ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6,
  kBool = 7, kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// Smallest encoding of each kind of record. Counts read from the file are
// checked against the bytes left divided by these, so that a tiny corrupt
// file cannot ask for a huge reservation.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // key length, type, u8
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name, n_dims, 1 dim, type, offset
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kDefaultAlignment = 32;

uint64_t scalar_size(uint32_t type) {
  switch (type) {
    case kU8: case kI8: case kBool: return 1;
    case kU16: case kI16: return 2;
    case kU32: case kI32: case kF32: return 4;
    case kU64: case kI64: case kF64: return 8;
    case kString: return 8;  // at least its length prefix
    default: return 0;
  }
}

// Bounds-checked little-endian cursor. `context` names the record being
// read so that a truncation error says where it happened.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, uint64_t size)
      : path_(path), data_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  void set_context(std::string context) { context_ = std::move(context); }
  const std::string& context() const { return context_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw bad_input(path_ + ": " + context_ + ": " + what);
  }

  const uint8_t* take(uint64_t n) {
    if (n > remaining()) {
      throw bad_input(path_ + ": truncated while reading " + context_ + " (need " +
                      std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
                      ", file has " + std::to_string(size_) + ")");
    }
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  template <typename T>
  T read() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));  // host is little-endian, as the file
    return v;
  }
  std::string read_string() {
    uint64_t len = read<uint64_t>();
    if (len > remaining()) {
      throw bad_input(path_ + ": truncated while reading " + context_ + " (string of " +
                      std::to_string(len) + " bytes at offset " + std::to_string(pos_) +
                      ", only " + std::to_string(remaining()) + " bytes left)");
    }
    const uint8_t* p = take(len);
    return std::string(reinterpret_cast<const char*>(p), len);
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string context_;
};

Scalar read_scalar(Cursor& in, uint32_t type) {
  switch (type) {
    case kU8: return uint64_t{in.read<uint8_t>()};
    case kI8: return int64_t{in.read<int8_t>()};
    case kU16: return uint64_t{in.read<uint16_t>()};
    case kI16: return int64_t{in.read<int16_t>()};
    case kU32: return uint64_t{in.read<uint32_t>()};
    case kI32: return int64_t{in.read<int32_t>()};
    case kU64: return in.read<uint64_t>();
    case kI64: return in.read<int64_t>();
    case kF32: return double{in.read<float>()};
    case kF64: return in.read<double>();
    case kString: return in.read_string();
    case kBool: {
      uint8_t b = in.read<uint8_t>();
      if (b > 1) in.fail("bool value " + std::to_string(b) + " is neither 0 nor 1");
      return b == 1;
    }
    default: in.fail("unknown metadata value type " + std::to_string(type));
  }
}

Value read_value(Cursor& in, uint32_t type) {
  Value v;
  if (type != kArray) {
    v.scalar = read_scalar(in, type);
    return v;
  }
  uint32_t elem_type = in.read<uint32_t>();
  if (elem_type == kArray) in.fail("nested arrays are not supported");
  uint64_t elem_size = scalar_size(elem_type);
  if (elem_size == 0) in.fail("unknown array element type " + std::to_string(elem_type));
  uint64_t n = in.read<uint64_t>();
  if (n > in.remaining() / elem_size) {
    in.fail("array length " + std::to_string(n) + " cannot fit in the " +
            std::to_string(in.remaining()) + " bytes left in the file (truncated or corrupt)");
  }
  v.is_array = true;
  v.array.reserve(n);
  for (uint64_t i = 0; i < n; ++i) v.array.push_back(read_scalar(in, elem_type));
  return v;
}

bool is_known_type(uint32_t t) {
  switch (static_cast<TensorType>(t)) {
    case TensorType::F32: case TensorType::F16: case TensorType::Q4_0: case TensorType::Q4_1:
    case TensorType::Q5_0: case TensorType::Q5_1: case TensorType::Q8_0: case TensorType::Q8_1:
    case TensorType::Q2_K: case TensorType::Q3_K: case TensorType::Q4_K: case TensorType::Q5_K:
    case TensorType::Q6_K: case TensorType::Q8_K: case TensorType::BF16:
      return true;
  }
  return false;
}

TensorInfo read_tensor_info(Cursor& in) {
  TensorInfo info;
  info.name = in.read_string();
  uint32_t n_dims = in.read<uint32_t>();
  if (n_dims == 0 || n_dims > kMaxDims) {
    in.fail("tensor '" + info.name + "' has " + std::to_string(n_dims) +
            " dimensions (expected 1 to " + std::to_string(kMaxDims) + ")");
  }
  uint64_t n_elements = 1;
  for (uint32_t i = 0; i < n_dims; ++i) {
    uint64_t d = in.read<uint64_t>();
    if (d == 0 || d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / d) {
      in.fail("tensor '" + info.name + "' has invalid dimension " + std::to_string(i) + " = " +
              std::to_string(d) + " (zero, or the element count overflows)");
    }
    n_elements *= d;
    info.dims.push_back(static_cast<int64_t>(d));
  }
  uint32_t type = in.read<uint32_t>();
  info.offset = in.read<uint64_t>();
  if (!is_known_type(type)) {
    in.fail("tensor '" + info.name + "' has unknown type " + std::to_string(type));
  }
  info.type = static_cast<TensorType>(type);
  if (!can_dequantize(info.type)) {
    in.fail("tensor '" + info.name + "' has type " + std::string(type_name(info.type)) + " (" +
            std::to_string(type) + "), which this reader does not support");
  }
  BlockLayout layout = block_layout(info.type);
  if (info.dims[0] % layout.elements != 0) {
    in.fail("tensor '" + info.name + "' has row length " + std::to_string(info.dims[0]) +
            ", not a multiple of the " + std::string(type_name(info.type)) + " block size " +
            std::to_string(layout.elements));
  }
  uint64_t n_blocks = n_elements / static_cast<uint64_t>(layout.elements);
  if (n_blocks > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(layout.bytes)) {
    in.fail("tensor '" + info.name + "' byte size overflows");
  }
  info.n_bytes = n_blocks * static_cast<uint64_t>(layout.bytes);
  return info;
}

}  // namespace

std::string_view type_name(TensorType type) {
  switch (type) {
    case TensorType::F32: return "F32";
    case TensorType::F16: return "F16";
    case TensorType::Q4_0: return "Q4_0";
    case TensorType::Q4_1: return "Q4_1";
    case TensorType::Q5_0: return "Q5_0";
    case TensorType::Q5_1: return "Q5_1";
    case TensorType::Q8_0: return "Q8_0";
    case TensorType::Q8_1: return "Q8_1";
    case TensorType::Q2_K: return "Q2_K";
    case TensorType::Q3_K: return "Q3_K";
    case TensorType::Q4_K: return "Q4_K";
    case TensorType::Q5_K: return "Q5_K";
    case TensorType::Q6_K: return "Q6_K";
    case TensorType::Q8_K: return "Q8_K";
    case TensorType::BF16: return "BF16";
  }
  return "unknown";
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::vector<int64_t> TensorInfo::shape() const { return {dims.rbegin(), dims.rend()}; }

struct FileImpl : MappedParse<TensorInfo> {
  uint32_t version = 0;
  std::map<std::string, Value> metadata;

  using MappedParse::MappedParse;
  void parse();
  const Value& lookup(const std::string& key) const;
  [[noreturn]] void wrong_type(const std::string& key, const char* expected) const;
};

void FileImpl::parse() {
  Cursor in(path, mapping.data(), mapping.size());
  in.set_context("header");
  const uint8_t* magic = in.take(4);
  if (std::memcmp(magic, "GGUF", 4) != 0) throw bad_input(path + ": not a GGUF file (bad magic)");
  version = in.read<uint32_t>();
  if (version != 2 && version != 3) {
    uint32_t swapped = __builtin_bswap32(version);
    std::string hint = (swapped == 2 || swapped == 3) ? " (a big-endian file?)" : "";
    throw bad_input(path + ": unsupported GGUF version " + std::to_string(version) + hint +
                    "; only versions 2 and 3 (little-endian) are supported");
  }
  uint64_t tensor_count = in.read<uint64_t>();
  uint64_t kv_count = in.read<uint64_t>();
  if (kv_count > in.remaining() / kMinKvBytes) {
    in.fail("metadata count " + std::to_string(kv_count) + " cannot fit in the " +
            std::to_string(in.remaining()) + " bytes left in the file (truncated or corrupt)");
  }
  if (tensor_count > (in.remaining() - kv_count * kMinKvBytes) / kMinTensorInfoBytes) {
    in.fail("tensor count " + std::to_string(tensor_count) + " cannot fit in the " +
            std::to_string(in.remaining()) + " bytes left in the file (truncated or corrupt)");
  }

  for (uint64_t i = 0; i < kv_count; ++i) {
    in.set_context("metadata key #" + std::to_string(i));
    std::string key = in.read_string();
    in.set_context("metadata #" + std::to_string(i) + " ('" + key + "')");
    uint32_t type = in.read<uint32_t>();
    Value value = read_value(in, type);
    if (!metadata.emplace(std::move(key), std::move(value)).second) in.fail("duplicate key");
  }

  uint64_t alignment = kDefaultAlignment;
  if (auto it = metadata.find("general.alignment"); it != metadata.end()) {
    const Value& v = it->second;
    const uint64_t* a = v.is_array ? nullptr : std::get_if<uint64_t>(&v.scalar);
    if (a == nullptr || *a == 0 || (*a & (*a - 1)) != 0 || *a > (uint64_t{1} << 30)) {
      throw bad_input(path + ": general.alignment must be an unsigned power of two (at most 2^30)");
    }
    alignment = *a;
  }

  tensors.list.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    in.set_context("tensor info #" + std::to_string(i));
    TensorInfo info = read_tensor_info(in);
    if (info.offset % alignment != 0) {
      in.fail("tensor '" + info.name + "' offset " + std::to_string(info.offset) +
              " is not a multiple of the alignment " + std::to_string(alignment));
    }
    const std::string name = info.name;
    if (!tensors.add(std::move(info))) in.fail("duplicate tensor name '" + name + "'");
  }

  // pos <= file size < 2^63 and alignment <= 2^30, so this cannot overflow.
  data_start = (in.pos() + alignment - 1) / alignment * alignment;
  uint64_t size = mapping.size();
  for (size_t i = 0; i < tensors.list.size(); ++i) {
    const TensorInfo& t = tensors.list[i];
    uint64_t avail = data_start <= size ? size - data_start : 0;
    if (t.offset > avail || t.n_bytes > avail - t.offset) {
      throw bad_input(path + ": truncated: data of tensor #" + std::to_string(i) + " ('" + t.name +
                      "', " + std::to_string(t.n_bytes) + " bytes at data offset " +
                      std::to_string(t.offset) + ") extends past the end of the file (" +
                      std::to_string(size) + " bytes, data section at " +
                      std::to_string(data_start) + ")");
    }
  }
}

const Value& FileImpl::lookup(const std::string& key) const {
  auto it = metadata.find(key);
  if (it == metadata.end()) throw bad_input(path + ": metadata key '" + key + "' is missing");
  return it->second;
}

void FileImpl::wrong_type(const std::string& key, const char* expected) const {
  throw bad_input(path + ": metadata key '" + key + "' is not " + expected);
}

uint32_t File::version() const { return impl_->version; }
const std::map<std::string, Value>& File::metadata() const { return impl_->metadata; }
bool File::has(const std::string& key) const { return impl_->metadata.count(key) != 0; }

namespace {
// Integer scalar as int64; false when not an integer or out of range.
bool scalar_to_int(const Scalar& s, int64_t* out) {
  if (const auto* u = std::get_if<uint64_t>(&s)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(*u);
    return true;
  }
  if (const auto* i = std::get_if<int64_t>(&s)) {
    *out = *i;
    return true;
  }
  return false;
}
}  // namespace

std::string File::get_string(const std::string& key) const {
  const Value& v = impl_->lookup(key);
  const auto* s = v.is_array ? nullptr : std::get_if<std::string>(&v.scalar);
  if (s == nullptr) impl_->wrong_type(key, "a string");
  return *s;
}

int64_t File::get_int(const std::string& key) const {
  const Value& v = impl_->lookup(key);
  int64_t out = 0;
  if (v.is_array || !scalar_to_int(v.scalar, &out)) {
    impl_->wrong_type(key, "an integer (in int64 range)");
  }
  return out;
}

double File::get_float(const std::string& key) const {
  const Value& v = impl_->lookup(key);
  if (!v.is_array) {
    if (const auto* d = std::get_if<double>(&v.scalar)) return *d;
    if (const auto* u = std::get_if<uint64_t>(&v.scalar)) return static_cast<double>(*u);
    if (const auto* i = std::get_if<int64_t>(&v.scalar)) return static_cast<double>(*i);
  }
  impl_->wrong_type(key, "a number");
}

bool File::get_bool(const std::string& key) const {
  const Value& v = impl_->lookup(key);
  const auto* b = v.is_array ? nullptr : std::get_if<bool>(&v.scalar);
  if (b == nullptr) impl_->wrong_type(key, "a bool");
  return *b;
}

std::vector<std::string> File::get_string_array(const std::string& key) const {
  const Value& v = impl_->lookup(key);
  if (!v.is_array) impl_->wrong_type(key, "an array of strings");
  std::vector<std::string> out;
  out.reserve(v.array.size());
  for (const Scalar& s : v.array) {
    const auto* str = std::get_if<std::string>(&s);
    if (str == nullptr) impl_->wrong_type(key, "an array of strings");
    out.push_back(*str);
  }
  return out;
}

std::vector<int64_t> File::get_int_array(const std::string& key) const {
  const Value& v = impl_->lookup(key);
  if (!v.is_array) impl_->wrong_type(key, "an array of integers");
  std::vector<int64_t> out(v.array.size());
  for (size_t i = 0; i < v.array.size(); ++i) {
    if (!scalar_to_int(v.array[i], &out[i])) {
      impl_->wrong_type(key, "an array of integers (in int64 range)");
    }
  }
  return out;
}

int64_t File::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}
double File::get_float(const std::string& key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}
bool File::get_bool(const std::string& key, bool fallback) const {
  return has(key) ? get_bool(key) : fallback;
}
std::string File::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

const uint8_t* File::tensor_data(const TensorInfo& info) const {
  return impl_->section(info.name, info.offset, info.n_bytes);
}

void File::dequantize(const TensorInfo& info, float* out) const {
  BlockLayout layout = block_layout(info.type);
  int64_t n = info.n_elements();
  if (n <= 0 || n % layout.elements != 0 ||
      static_cast<uint64_t>(n / layout.elements) * static_cast<uint64_t>(layout.bytes) != info.n_bytes) {
    throw bad_input(impl_->path + ": tensor '" + info.name + "' has inconsistent size");
  }
  gguf::dequantize(info.type, tensor_data(info), n, out);
}

}  // namespace lockstep::gguf

// The frame's code, compiled here where FileImpl is complete.
template class lockstep::ParsedFile<lockstep::gguf::File, lockstep::gguf::FileImpl,
                                     lockstep::gguf::TensorInfo>;

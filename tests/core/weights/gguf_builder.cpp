#include "tests/core/weights/gguf_builder.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace lockstep::testing {
namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  uint8_t bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

template <typename T>
std::vector<uint8_t> scalar(T v) {
  std::vector<uint8_t> out;
  put(out, v);
  return out;
}

template <typename T>
std::vector<uint8_t> array(GType elem, const std::vector<T>& values) {
  std::vector<uint8_t> out;
  put_u32(out, static_cast<uint32_t>(elem));
  put_u64(out, values.size());
  for (const T& v : values) put(out, v);
  return out;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

void put_u32(std::vector<uint8_t>& out, uint32_t v) { put(out, v); }
void put_u64(std::vector<uint8_t>& out, uint64_t v) { put(out, v); }
void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put_u64(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

GgufBuilder& GgufBuilder::version(uint32_t v) {
  version_ = v;
  return *this;
}

GgufBuilder& GgufBuilder::alignment(uint32_t a, bool write_key) {
  alignment_ = a;
  return write_key ? add_u32("general.alignment", a) : *this;
}

GgufBuilder& GgufBuilder::add_raw(const std::string& key, uint32_t type,
                                  const std::vector<uint8_t>& payload) {
  kvs_.push_back({key, type, payload});
  return *this;
}

#define LOCKSTEP_SCALAR_ADDER(fn, T, gtype) \
  GgufBuilder& GgufBuilder::fn(const std::string& key, T v) { \
    return add_raw(key, static_cast<uint32_t>(GType::gtype), scalar(v)); \
  }
LOCKSTEP_SCALAR_ADDER(add_u8, uint8_t, U8)
LOCKSTEP_SCALAR_ADDER(add_i8, int8_t, I8)
LOCKSTEP_SCALAR_ADDER(add_u16, uint16_t, U16)
LOCKSTEP_SCALAR_ADDER(add_i16, int16_t, I16)
LOCKSTEP_SCALAR_ADDER(add_u32, uint32_t, U32)
LOCKSTEP_SCALAR_ADDER(add_i32, int32_t, I32)
LOCKSTEP_SCALAR_ADDER(add_f32, float, F32)
LOCKSTEP_SCALAR_ADDER(add_u64, uint64_t, U64)
LOCKSTEP_SCALAR_ADDER(add_i64, int64_t, I64)
LOCKSTEP_SCALAR_ADDER(add_f64, double, F64)
#undef LOCKSTEP_SCALAR_ADDER

GgufBuilder& GgufBuilder::add_bool(const std::string& key, bool v) {
  return add_raw(key, static_cast<uint32_t>(GType::BOOL), scalar<uint8_t>(v ? 1 : 0));
}

GgufBuilder& GgufBuilder::add_string(const std::string& key, const std::string& v) {
  std::vector<uint8_t> payload;
  put_string(payload, v);
  return add_raw(key, static_cast<uint32_t>(GType::STRING), payload);
}

GgufBuilder& GgufBuilder::add_string_array(const std::string& key,
                                           const std::vector<std::string>& v) {
  std::vector<uint8_t> payload;
  put_u32(payload, static_cast<uint32_t>(GType::STRING));
  put_u64(payload, v.size());
  for (const std::string& s : v) put_string(payload, s);
  return add_raw(key, static_cast<uint32_t>(GType::ARRAY), payload);
}

GgufBuilder& GgufBuilder::add_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  return add_raw(key, static_cast<uint32_t>(GType::ARRAY), array(GType::I32, v));
}
GgufBuilder& GgufBuilder::add_u8_array(const std::string& key, const std::vector<uint8_t>& v) {
  return add_raw(key, static_cast<uint32_t>(GType::ARRAY), array(GType::U8, v));
}
GgufBuilder& GgufBuilder::add_f32_array(const std::string& key, const std::vector<float>& v) {
  return add_raw(key, static_cast<uint32_t>(GType::ARRAY), array(GType::F32, v));
}

GgufBuilder::Tensor& GgufBuilder::add_tensor(const std::string& name, uint32_t type,
                                             std::vector<uint64_t> dims,
                                             std::vector<uint8_t> data) {
  tensors_.push_back({name, type, std::move(dims), std::move(data), std::nullopt, true});
  return tensors_.back();
}

GgufBuilder::Tensor& GgufBuilder::add_f32_tensor(const std::string& name,
                                                 std::vector<uint64_t> dims,
                                                 const std::vector<float>& values) {
  std::vector<uint8_t> data(values.size() * 4);
  std::memcpy(data.data(), values.data(), data.size());
  return add_tensor(name, /*F32=*/0, std::move(dims), std::move(data));
}

std::vector<uint8_t> GgufBuilder::build() const {
  std::vector<uint8_t> out = {'G', 'G', 'U', 'F'};
  put_u32(out, version_);
  put_u64(out, tensors_.size());
  put_u64(out, kvs_.size());
  for (const Kv& kv : kvs_) {
    put_string(out, kv.key);
    put_u32(out, kv.type);
    out.insert(out.end(), kv.payload.begin(), kv.payload.end());
  }
  // Lay the data out back to back, each tensor aligned, unless overridden.
  std::vector<uint64_t> offsets;
  uint64_t next = 0;
  for (const Tensor& t : tensors_) {
    offsets.push_back(t.offset ? *t.offset : next);
    next = align_up(offsets.back() + t.data.size(), alignment_);
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    put_string(out, t.name);
    put_u32(out, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) put_u64(out, d);
    put_u32(out, t.type);
    put_u64(out, offsets[i]);
  }
  const uint64_t data_start = align_up(out.size(), alignment_);
  out.resize(data_start, 0);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    if (!t.write_data || t.data.empty()) continue;
    // No padding after the last tensor: a file cut anywhere must be invalid.
    const uint64_t end = data_start + offsets[i] + t.data.size();
    if (out.size() < end) out.resize(end, 0);
    std::memcpy(out.data() + data_start + offsets[i], t.data.data(), t.data.size());
  }
  return out;
}

TempFile::TempFile(const std::vector<uint8_t>& bytes) {
  std::string templ = ::testing::TempDir() + "lockstep_gguf_XXXXXX";
  int fd = ::mkstemp(templ.data());
  if (fd < 0) throw std::runtime_error("mkstemp failed for " + templ);
  ::close(fd);
  path_ = templ;
  rewrite(bytes);
}

TempFile::~TempFile() { std::remove(path_.c_str()); }

// Overwrite in place and then cut to size: truncating to zero first makes
// ext4 flush on close (auto_da_alloc), which slows the many-rewrite tests 100x.
void TempFile::rewrite(const std::vector<uint8_t>& bytes) const {
  int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot write " + path_);
  const ssize_t n = bytes.empty() ? 0 : ::pwrite(fd, bytes.data(), bytes.size(), 0);
  const int rc = ::ftruncate(fd, static_cast<off_t>(bytes.size()));
  ::close(fd);
  if (n != static_cast<ssize_t>(bytes.size()) || rc != 0) {
    throw std::runtime_error("short write to " + path_);
  }
}

}  // namespace lockstep::testing

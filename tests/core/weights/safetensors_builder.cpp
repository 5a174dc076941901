#include "tests/core/weights/safetensors_builder.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <ftw.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace lockstep::testing {

SafetensorsBuilder& SafetensorsBuilder::metadata(const std::string& key, const std::string& value) {
  metadata_.emplace_back(key, value);
  return *this;
}

SafetensorsBuilder::Tensor& SafetensorsBuilder::add(const std::string& name,
                                                    const std::string& dtype,
                                                    std::vector<int64_t> shape,
                                                    std::vector<uint8_t> data) {
  tensors_.push_back(Tensor{name, dtype, std::move(shape), std::move(data), std::nullopt});
  return tensors_.back();
}

SafetensorsBuilder::Tensor& SafetensorsBuilder::add_f32(const std::string& name,
                                                        std::vector<int64_t> shape,
                                                        const std::vector<float>& values) {
  std::vector<uint8_t> data(values.size() * 4);
  if (!values.empty()) std::memcpy(data.data(), values.data(), data.size());
  return add(name, "F32", std::move(shape), std::move(data));
}

SafetensorsBuilder::Tensor& SafetensorsBuilder::add_u16(const std::string& name,
                                                        const std::string& dtype,
                                                        std::vector<int64_t> shape,
                                                        const std::vector<uint16_t>& values) {
  std::vector<uint8_t> data(values.size() * 2);
  if (!values.empty()) std::memcpy(data.data(), values.data(), data.size());
  return add(name, dtype, std::move(shape), std::move(data));
}

std::string SafetensorsBuilder::header() const {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) m[k] = v;
    h["__metadata__"] = m;
  }
  uint64_t pos = 0;
  for (const Tensor& t : tensors_) {
    const auto offsets = t.offsets.value_or(std::make_pair(pos, pos + t.data.size()));
    h[t.name] = {{"dtype", t.dtype},
                 {"shape", t.shape},
                 {"data_offsets", {offsets.first, offsets.second}}};
    pos += t.data.size();
  }
  return h.dump();
}

std::vector<uint8_t> SafetensorsBuilder::build() const {
  std::string text = header();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<uint8_t> data;
  for (const Tensor& t : tensors_) data.insert(data.end(), t.data.begin(), t.data.end());
  return raw(text, data);
}

std::vector<uint8_t> SafetensorsBuilder::raw(const std::string& header,
                                             const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(8 + header.size() + data.size());
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  if (!header.empty()) std::memcpy(out.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

TempDir::TempDir() {
  std::string templ = ::testing::TempDir() + "lockstep_st_XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + templ);
  path_ = templ;
}

// POSIX nftw, not std::filesystem: binaries linked with libtorch get its
// exported copy of those symbols, which crashes.
TempDir::~TempDir() {
  ::nftw(path_.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
         FTW_DEPTH | FTW_PHYS);
}

std::string TempDir::write(const std::string& name, const std::vector<uint8_t>& bytes) const {
  const std::string path = path_ + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
  return path;
}

std::string TempDir::write(const std::string& name, const std::string& text) const {
  return write(name, std::vector<uint8_t>(text.begin(), text.end()));
}

}  // namespace lockstep::testing

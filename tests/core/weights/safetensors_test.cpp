#include "core/weights/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "tests/core/weights/expect_error.h"
#include "tests/core/weights/gguf_builder.h"
#include "tests/core/weights/safetensors_builder.h"

namespace lockstep::safetensors {
namespace {

using testing::SafetensorsBuilder;
using testing::TempFile;

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

using testing::expect_error;
void expect_bad_file(const std::vector<uint8_t>& bytes, std::vector<std::string> parts) {
  testing::expect_bad_file<File>(bytes, std::move(parts));
}

// A header with one tensor entry spelled out, and a data section of `data_bytes`.
std::vector<uint8_t> one_tensor(const std::string& entry, size_t data_bytes = 8) {
  return SafetensorsBuilder::raw("{\"t\":" + entry + "}", std::vector<uint8_t>(data_bytes, 0));
}

SafetensorsBuilder small_builder() {
  SafetensorsBuilder b;
  b.metadata("format", "pt").metadata("note", "héllo");
  b.add_f32("a.weight", {2, 3}, {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-40f});
  b.add_u16("b.f16", "F16", {4}, {0x3C00, 0xC000, 0x0001, 0x7BFF});
  b.add_u16("c.bf16", "BF16", {2, 1}, {0x3F80, 0xC049});
  return b;
}

TEST(SafetensorsFile, ReadsValuesShapesAndMetadata) {
  TempFile tmp(small_builder().build());
  const File f = File::open(tmp.path());
  EXPECT_EQ(f.path(), tmp.path());
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "héllo");
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "a.weight");  // sorted by name
  EXPECT_EQ(f.tensors()[2].name, "c.bf16");

  const TensorInfo& a = f.tensor("a.weight");
  EXPECT_EQ(a.dtype, DType::F32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.n_elements(), 6);
  std::vector<float> out(6);
  f.read_f32(a, out.data());
  const std::vector<float> want = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-40f};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(bits(out[i]), bits(want[i])) << i;

  const TensorInfo& h = f.tensor("b.f16");
  EXPECT_EQ(h.dtype, DType::F16);
  out.assign(4, 0.0f);
  f.read_f32(h, out.data());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], std::ldexp(1.0f, -24));
  EXPECT_EQ(out[3], 65504.0f);

  const TensorInfo& b = f.tensor("c.bf16");
  EXPECT_EQ(b.shape, (std::vector<int64_t>{2, 1}));
  out.assign(2, 0.0f);
  f.read_f32(b, out.data());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -3.140625f);

  EXPECT_EQ(f.find("missing"), nullptr);
  expect_error([&] { f.tensor("missing"); }, ErrorKind::bad_input, {"missing", tmp.path()});
}

TEST(SafetensorsFile, ScalarsEmptyTensorsAndNoMetadata) {
  SafetensorsBuilder b;
  b.add_f32("scalar", {}, {7.5f});
  b.add_f32("empty", {0, 4}, {});
  b.add_f32("after", {1}, {-1.0f});
  TempFile tmp(b.build());
  const File f = File::open(tmp.path());
  EXPECT_TRUE(f.metadata().empty());
  float v = 0;
  f.read_f32(f.tensor("scalar"), &v);
  EXPECT_EQ(v, 7.5f);
  EXPECT_EQ(f.tensor("scalar").n_elements(), 1);
  EXPECT_EQ(f.tensor("empty").n_elements(), 0);
  f.read_f32(f.tensor("empty"), nullptr);  // nothing to write
  f.read_f32(f.tensor("after"), &v);
  EXPECT_EQ(v, -1.0f);
}

TEST(SafetensorsFile, EmptyHeaderObjectIsAValidFile) {
  TempFile tmp(SafetensorsBuilder::raw("{}"));
  EXPECT_TRUE(File::open(tmp.path()).tensors().empty());
  TempFile padded(SafetensorsBuilder::raw("{}      "));
  EXPECT_TRUE(File::open(padded.path()).tensors().empty());
}

// Reference for a 16-bit float with `mantissa` mantissa bits (F16: 10,
// BF16: 7) and the other 15 - mantissa exponent bits, computed arithmetically
// instead of by moving bits: (-1)^s * 2^(e - bias) * (1 + m / 2^mantissa),
// or 2^(1 - bias) * m / 2^mantissa for subnormals.
double float16_reference(uint16_t h, int mantissa) {
  const int exponent_max = (1 << (15 - mantissa)) - 1;
  const int bias = exponent_max / 2;
  const int s = h >> 15;
  const int e = (h >> mantissa) & exponent_max;
  const int m = h & ((1 << mantissa) - 1);
  double mag;
  if (e == exponent_max) {
    mag = std::numeric_limits<double>::infinity();  // NaNs are checked apart
  } else if (e == 0) {
    mag = std::ldexp(static_cast<double>(m), 1 - bias - mantissa);
  } else {
    mag = std::ldexp(static_cast<double>((1 << mantissa) + m), e - bias - mantissa);
  }
  return s ? -mag : mag;
}

// All 65536 patterns of one 16-bit dtype, read through a file.
std::vector<float> read_all_patterns(const std::string& dtype) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  SafetensorsBuilder b;
  b.add_u16("all", dtype, {256, 256}, all);
  TempFile tmp(b.build());
  const File f = File::open(tmp.path());
  std::vector<float> out(65536);
  f.read_f32(f.tensor("all"), out.data());
  return out;
}

// Every bit pattern of the 16-bit float `dtype` (`mantissa` mantissa bits),
// read through a file: numbers exactly float16_reference, NaNs with their
// sign and payload kept in the top of the float mantissa.
void expect_every_pattern_exact(const std::string& dtype, int mantissa) {
  const std::vector<float> got = read_all_patterns(dtype);
  const uint32_t payload = (1u << mantissa) - 1, exponent_max = (1u << (15 - mantissa)) - 1;
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t h = static_cast<uint16_t>(i);
    if (((h >> mantissa) & exponent_max) == exponent_max && (h & payload) != 0) {
      ASSERT_TRUE(std::isnan(got[i])) << dtype << std::hex << i;
      const uint32_t want = (uint32_t{h} & 0x8000u) << 16 | 0x7F800000u | (uint32_t{h} & payload) << (23 - mantissa);
      ASSERT_EQ(bits(got[i]), want) << dtype << std::hex << i;
    } else {
      ASSERT_EQ(bits(got[i]), bits(static_cast<float>(float16_reference(h, mantissa)))) << dtype << std::hex << i;
    }
  }
}

TEST(SafetensorsFile, F16ConversionIsExactForEveryBitPattern) {
  expect_every_pattern_exact("F16", 10);
#if defined(__FLT16_MAX__)
  const std::vector<float> got = read_all_patterns("F16");   // and as the compiler's _Float16 widens
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t h = static_cast<uint16_t>(i);
    _Float16 x;
    std::memcpy(&x, &h, 2);
    if (!std::isnan(got[i])) {
      ASSERT_EQ(bits(got[i]), bits(static_cast<float>(x))) << std::hex << i;
    }
  }
#endif
}

TEST(SafetensorsFile, BF16ConversionIsExactForEveryBitPattern) { expect_every_pattern_exact("BF16", 7); }

TEST(SafetensorsFile, OtherDtypesOpenButAreNotReadAsFloats) {
  struct Row {
    const char* dtype;
    uint64_t size;
  };
  for (const Row& row : {Row{"BOOL", 1}, Row{"U8", 1}, Row{"I8", 1}, Row{"I16", 2},
                         Row{"U16", 2}, Row{"I32", 4}, Row{"U32", 4}, Row{"I64", 8},
                         Row{"U64", 8}, Row{"F64", 8}, Row{"F8_E4M3", 1}, Row{"F8_E5M2", 1},
                         Row{"F8_E8M0", 1}, Row{"C64", 8}}) {
    SCOPED_TRACE(row.dtype);
    SafetensorsBuilder b;
    b.add("x", row.dtype, {3}, std::vector<uint8_t>(3 * row.size, 1));
    TempFile tmp(b.build());
    const File f = File::open(tmp.path());
    const TensorInfo& t = f.tensor("x");
    EXPECT_EQ(dtype_name(t.dtype), row.dtype);
    EXPECT_EQ(dtype_size(t.dtype), row.size);
    EXPECT_FALSE(can_read_f32(t.dtype));
    std::vector<float> out(3);
    expect_error([&] { f.read_f32(t, out.data()); }, ErrorKind::bad_input,
                 {tmp.path(), "'x'", row.dtype, "supported: F32, F16, BF16"});
  }
}

TEST(SafetensorsFile, MissingFileIsAnEnvironmentError) {
  expect_error([] { File::open("/nonexistent/model.safetensors"); }, ErrorKind::environment,
               {"/nonexistent/model.safetensors", "cannot open"});
}

TEST(SafetensorsFile, RejectsBadHeaderLength) {
  expect_bad_file({}, {"truncated", "8-byte header length"});
  expect_bad_file({1, 0, 0}, {"truncated"});
  std::vector<uint8_t> huge(16, 0);
  huge[0] = 0x01;
  huge[4] = 0x01;  // 2^32 + 1
  expect_bad_file(huge, {"header length 4294967297", "exceeds the limit"});
  std::vector<uint8_t> big = SafetensorsBuilder::raw("{}");
  big[0] = 100;  // within the limit, past the end of the file
  expect_bad_file(big, {"truncated", "header length 100"});
  // A header length of 0 is an empty document, not JSON.
  expect_bad_file(std::vector<uint8_t>(8, 0), {"not valid JSON"});
}

TEST(SafetensorsFile, RejectsMalformedHeaders) {
  using R = SafetensorsBuilder;
  expect_bad_file(R::raw("not json"), {"not valid JSON"});
  expect_bad_file(R::raw("{\"a\":"), {"not valid JSON"});
  expect_bad_file(R::raw("[]"), {"not a JSON object"});
  expect_bad_file(R::raw("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x",
                         std::vector<uint8_t>(4)),
                  {"not valid JSON"});
  expect_bad_file(R::raw("{\"t\":{\"dtype\":\"F32\",\"shape\":[[[1]]],\"data_offsets\":[0,4]}}"),
                  {"nested deeper"});
  expect_bad_file(R::raw(std::string(100000, '[') + std::string(100000, ']')), {"nested deeper"});
  expect_bad_file(R::raw("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                         std::vector<uint8_t>(8)),
                  {"key 't' twice"});
  expect_bad_file(R::raw("{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],"
                         "\"data_offsets\":[0,4]}}",
                         std::vector<uint8_t>(4)),
                  {"key 'dtype' twice"});
  expect_bad_file(R::raw("{\"t\":\"\xff\xfe\"}"), {"not valid JSON"});  // invalid UTF-8
  expect_bad_file(R::raw("{\"__metadata__\":[1]}"), {"'__metadata__' is not a JSON object"});
  expect_bad_file(R::raw("{\"__metadata__\":{\"k\":1}}"), {"value of 'k' is not a string"});
}

TEST(SafetensorsFile, RejectsBadTensorEntries) {
  expect_bad_file(one_tensor("[]"), {"tensor 't'", "not a JSON object"});
  expect_bad_file(one_tensor("{\"shape\":[2],\"data_offsets\":[0,8]}"), {"'dtype' is missing"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"data_offsets\":[0,8]}"), {"'shape' is missing"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[2]}"), {"'data_offsets' is missing"});
  expect_bad_file(one_tensor("{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}"),
                  {"'dtype' is not a string"});
  expect_bad_file(one_tensor("{\"dtype\":\"Q4_0\",\"shape\":[2],\"data_offsets\":[0,8]}"),
                  {"unknown dtype 'Q4_0'"});
  expect_bad_file(one_tensor("{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}"),
                  {"unknown dtype 'f32'"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}"),
                  {"'shape' is not an array"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}"),
                  {"shape[0] is not a non-negative integer"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}"),
                  {"shape[0] is not a non-negative integer"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}"),
                  {"shape[0] is not a non-negative integer"});
  expect_bad_file(
      one_tensor("{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}"),
      {"shape[1]", "overflow"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
                             "\"data_offsets\":[0,8]}"),
                  {"shape[0] is not a non-negative integer"});  // parsed as a float
  expect_bad_file(one_tensor("{\"dtype\":\"F64\",\"shape\":[4611686018427387904],"
                             "\"data_offsets\":[0,8]}"),
                  {"byte size overflows"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}"),
                  {"not a pair of non-negative integers"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}"),
                  {"not a pair of non-negative integers"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-1,7]}"),
                  {"not a pair of non-negative integers"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"a\":1}}"),
                  {"not a pair of non-negative integers"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}"),
                  {"end before they begin"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}"),
                  {"truncated", "extend past the 8-byte data section"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"
                             "[18446744073709551615,18446744073709551615]}"),
                  {"extend past"});
  expect_bad_file(one_tensor("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}", 16),
                  {"hold 8 bytes", "need 12"});
  expect_bad_file(one_tensor("{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}"),
                  {"hold 8 bytes", "F16 need 4"});
  expect_bad_file(SafetensorsBuilder::raw("{\"\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
                                          std::vector<uint8_t>(4)),
                  {"empty name"});
}

TEST(SafetensorsFile, RejectsOverlapsButAllowsHoles) {
  SafetensorsBuilder b;
  b.add_f32("a", {2}, {1, 2});
  b.add_f32("b", {2}, {3, 4}).offsets = std::make_pair(4, 12);  // shares bytes 4..8 with 'a'
  expect_bad_file(b.build(), {"tensors 'a' [0, 8) and 'b' [4, 12) overlap"});

  SafetensorsBuilder same;
  same.add_f32("a", {2}, {1, 2});
  same.add_f32("b", {2}, {3, 4}).offsets = std::make_pair(0, 8);  // aliases 'a'
  expect_bad_file(same.build(), {"overlap"});

  // Empty tensors occupy no bytes, wherever they point.
  SafetensorsBuilder empty;
  empty.add_f32("a", {2}, {1, 2});
  empty.add_f32("e", {0}, {}).offsets = std::make_pair(4, 4);
  empty.add_f32("z", {2}, {3, 4});
  TempFile ok(empty.build());
  EXPECT_NO_THROW(File::open(ok.path()));

  // A gap between tensors is unused space, not corruption.
  std::vector<uint8_t> data(12, 0);
  const float two = 2.0f;
  std::memcpy(data.data() + 8, &two, 4);
  TempFile gap(SafetensorsBuilder::raw(
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
      data));
  const File f = File::open(gap.path());
  float v = 0;
  f.read_f32(f.tensor("b"), &v);
  EXPECT_EQ(v, 2.0f);
}

TEST(SafetensorsFile, EveryTruncationIsRejected) {
  const std::vector<uint8_t> full = small_builder().build();
  TempFile tmp(full);
  ASSERT_NO_THROW(File::open(tmp.path()));
  for (size_t n = 0; n < full.size(); ++n) {
    tmp.rewrite(std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(n)));
    expect_error([&] { File::open(tmp.path()); }, ErrorKind::bad_input, {tmp.path()});
  }
}

// Random corruption of the length field and the header: opening either
// succeeds (and then every tensor reads within the file) or fails with
// bad_input; nothing else, and no crash (run under ASan for the full claim).
TEST(SafetensorsFile, RandomHeaderCorruptionNeverCrashes) {
  const std::vector<uint8_t> full = small_builder().build();
  const size_t header_end = full.size() - (6 * 4 + 4 * 2 + 2 * 2);
  TempFile tmp(full);
  std::mt19937_64 rng(1234);
  int opened = 0;
  const std::string alphabet = "{}[]\":,0123456789-.eE \\FBI";
  for (int iter = 0; iter < 5000; ++iter) {
    std::vector<uint8_t> bytes = full;
    const int n_changes = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < n_changes; ++k) {
      const size_t at = rng() % header_end;
      switch (rng() % 3) {
        case 0: bytes[at] = static_cast<uint8_t>(rng()); break;
        case 1: bytes[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        default: bytes[at] = static_cast<uint8_t>(alphabet[rng() % alphabet.size()]); break;
      }
    }
    tmp.rewrite(bytes);
    try {
      const File f = File::open(tmp.path());
      ++opened;
      for (const TensorInfo& t : f.tensors()) {
        if (!can_read_f32(t.dtype)) continue;
        std::vector<float> out(static_cast<size_t>(t.n_elements()));
        f.read_f32(t, out.data());
      }
    } catch (const Error& e) {
      ASSERT_EQ(e.kind(), ErrorKind::bad_input) << e.what();
    }
  }
  EXPECT_GT(opened, 0);  // some corruptions (inside strings) leave a valid file
}

}  // namespace
}  // namespace lockstep::safetensors

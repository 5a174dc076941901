#include "core/weights/gguf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "tests/core/weights/expect_error.h"
#include "tests/core/weights/gguf_builder.h"

namespace lockstep::gguf {
namespace {

using testing::GgufBuilder;
using testing::GType;
using testing::TempFile;

using testing::expect_error;
void expect_bad_file(const std::vector<uint8_t>& bytes, std::vector<std::string> parts) {
  testing::expect_bad_file<File>(bytes, std::move(parts));
}

// One Q8_0 block with d = 1 and q[j] = j - 16.
std::vector<uint8_t> q8_0_block() {
  std::vector<uint8_t> b(34, 0);
  b[1] = 0x3C;
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  return b;
}

// A small valid file with every metadata type and two tensors.
GgufBuilder small_builder() {
  GgufBuilder g;
  g.add_string("general.architecture", "llama")
      .add_u8("t.u8", 200)
      .add_i8("t.i8", -100)
      .add_u16("t.u16", 60000)
      .add_i16("t.i16", -30000)
      .add_u32("t.u32", 4000000000u)
      .add_i32("t.i32", -2000000000)
      .add_f32("t.f32", 0.1f)
      .add_bool("t.bool", true)
      .add_u64("t.u64", 1ull << 40)
      .add_i64("t.i64", -(1ll << 40))
      .add_f64("t.f64", 2.5e-300)
      .add_string_array("t.strings", {"a", "", "héllo"})
      .add_i32_array("t.ints", {1, -2, 3})
      .add_f32_array("t.floats", {0.5f, -1.0f});
  g.add_f32_tensor("norm", {4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  g.add_tensor("embd", /*Q8_0=*/8, {32, 1}, q8_0_block());
  return g;
}

TEST(GgufFile, ParsesEveryMetadataType) {
  TempFile tmp(small_builder().build());
  const File f = File::open(tmp.path());
  EXPECT_EQ(f.path(), tmp.path());
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata().size(), 15u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("t.u8"), 200);
  EXPECT_EQ(f.get_int("t.i8"), -100);
  EXPECT_EQ(f.get_int("t.u16"), 60000);
  EXPECT_EQ(f.get_int("t.i16"), -30000);
  EXPECT_EQ(f.get_int("t.u32"), 4000000000ll);
  EXPECT_EQ(f.get_int("t.i32"), -2000000000);
  EXPECT_EQ(f.get_float("t.f32"), static_cast<double>(0.1f));
  EXPECT_TRUE(f.get_bool("t.bool"));
  EXPECT_EQ(f.get_int("t.u64"), 1ll << 40);
  EXPECT_EQ(f.get_int("t.i64"), -(1ll << 40));
  EXPECT_EQ(f.get_float("t.f64"), 2.5e-300);
  EXPECT_EQ(f.get_float("t.u32"), 4e9);  // integers read as floats too
  EXPECT_EQ(f.get_string_array("t.strings"), (std::vector<std::string>{"a", "", "héllo"}));
  EXPECT_EQ(f.get_int_array("t.ints"), (std::vector<int64_t>{1, -2, 3}));
  const Value& floats = f.metadata().at("t.floats");
  ASSERT_TRUE(floats.is_array);
  ASSERT_EQ(floats.array.size(), 2u);
  EXPECT_EQ(std::get<double>(floats.array[1]), -1.0);
  EXPECT_TRUE(std::holds_alternative<uint64_t>(f.metadata().at("t.u8").scalar));
  EXPECT_TRUE(std::holds_alternative<int64_t>(f.metadata().at("t.i8").scalar));
}

TEST(GgufFile, ParsesTensorInfosAndData) {
  TempFile tmp(small_builder().build());
  const File f = File::open(tmp.path());
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorInfo& norm = f.tensor("norm");
  EXPECT_EQ(norm.type, TensorType::F32);
  EXPECT_EQ(norm.dims, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(norm.shape(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(norm.n_elements(), 8);
  EXPECT_EQ(norm.n_bytes, 32u);
  EXPECT_EQ(norm.offset, 0u);
  const TensorInfo& embd = f.tensor("embd");
  EXPECT_EQ(embd.type, TensorType::Q8_0);
  EXPECT_EQ(embd.n_bytes, 34u);
  EXPECT_EQ(embd.offset, 32u);
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_EQ(f.find("embd"), &embd);
  expect_error([&] { f.tensor("missing"); }, ErrorKind::bad_input, {"missing", tmp.path()});

  std::vector<float> values(8);
  f.dequantize(norm, values.data());
  EXPECT_EQ(values, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(std::memcmp(f.tensor_data(embd), q8_0_block().data(), 34), 0);
  std::vector<float> q(32);
  f.dequantize(embd, q.data());
  for (int j = 0; j < 32; ++j) EXPECT_EQ(q[j], static_cast<float>(j - 16));

  TensorInfo bogus = embd;
  bogus.offset = 1 << 20;
  expect_error([&] { f.tensor_data(bogus); }, ErrorKind::bad_input, {"outside the file"});
}

TEST(GgufFile, TypedAccessorErrorsNameTheKey) {
  TempFile tmp(small_builder().build());
  const File f = File::open(tmp.path());
  expect_error([&] { f.get_int("no.such.key"); }, ErrorKind::bad_input,
               {"no.such.key", "missing", tmp.path()});
  expect_error([&] { f.get_string("t.u32"); }, ErrorKind::bad_input, {"t.u32", "string"});
  expect_error([&] { f.get_int("t.f32"); }, ErrorKind::bad_input, {"t.f32", "integer"});
  expect_error([&] { f.get_int("general.architecture"); }, ErrorKind::bad_input, {"general.architecture"});
  expect_error([&] { f.get_float("t.bool"); }, ErrorKind::bad_input, {"t.bool", "number"});
  expect_error([&] { f.get_bool("t.u8"); }, ErrorKind::bad_input, {"t.u8", "bool"});
  expect_error([&] { f.get_int("t.ints"); }, ErrorKind::bad_input, {"t.ints"});
  expect_error([&] { f.get_string_array("t.ints"); }, ErrorKind::bad_input, {"t.ints", "strings"});
  expect_error([&] { f.get_int_array("t.strings"); }, ErrorKind::bad_input, {"t.strings", "integers"});
  expect_error([&] { f.get_int_array("t.u8"); }, ErrorKind::bad_input, {"t.u8"});
  EXPECT_TRUE(f.has("t.u8"));
  EXPECT_FALSE(f.has("t.nope"));
  EXPECT_EQ(f.get_int("t.nope", 7), 7);
  EXPECT_EQ(f.get_int("t.u8", 7), 200);
  EXPECT_EQ(f.get_float("t.nope", 1.5), 1.5);
  EXPECT_FALSE(f.get_bool("t.nope", false));
  EXPECT_TRUE(f.get_bool("t.bool", false));
  EXPECT_EQ(f.get_string("t.nope", "x"), "x");
  // A present key of the wrong type is an error even with a fallback.
  expect_error([&] { f.get_int("t.f32", 0); }, ErrorKind::bad_input, {"t.f32"});
}

TEST(GgufFile, U64BeyondInt64IsNotAnInt) {
  GgufBuilder g;
  g.add_u64("big", std::numeric_limits<uint64_t>::max());
  TempFile tmp(g.build());
  const File f = File::open(tmp.path());
  expect_error([&] { f.get_int("big"); }, ErrorKind::bad_input, {"big"});
  EXPECT_EQ(f.get_float("big"), 18446744073709551615.0);
}

TEST(GgufFile, AcceptsVersion2AndEmptyFiles) {
  GgufBuilder g = small_builder();
  g.version(2);
  TempFile tmp(g.build());
  EXPECT_EQ(File::open(tmp.path()).version(), 2u);

  TempFile empty(GgufBuilder().build());  // header only: no metadata, no tensors
  const File f = File::open(empty.path());
  EXPECT_TRUE(f.metadata().empty());
  EXPECT_TRUE(f.tensors().empty());
}

TEST(GgufFile, MoveKeepsTheMapping) {
  TempFile tmp(small_builder().build());
  File a = File::open(tmp.path());
  File b = std::move(a);
  std::vector<float> v(8);
  b.dequantize(b.tensor("norm"), v.data());
  EXPECT_EQ(v[7], 8.0f);
  File c = File::open(tmp.path());
  c = std::move(b);
  EXPECT_EQ(c.get_string("general.architecture"), "llama");
}

TEST(GgufFile, CustomAlignment) {
  GgufBuilder g;
  g.alignment(64);
  g.add_f32_tensor("a", {3}, {1, 2, 3});
  g.add_f32_tensor("b", {2}, {4, 5});
  TempFile tmp(g.build());
  const File f = File::open(tmp.path());
  EXPECT_EQ(f.tensor("b").offset, 64u);
  EXPECT_EQ((f.tensor_data(f.tensor("a")) - f.tensor_data(f.tensor("b"))), -64);
  std::vector<float> v(2);
  f.dequantize(f.tensor("b"), v.data());
  EXPECT_EQ(v, (std::vector<float>{4, 5}));
}

TEST(GgufFile, RejectsBadAlignment) {
  for (uint32_t a : {0u, 48u}) {
    GgufBuilder g;
    g.alignment(32, false).add_u32("general.alignment", a);
    expect_bad_file(g.build(), {"general.alignment"});
  }
  GgufBuilder g;
  g.add_string("general.alignment", "32");
  expect_bad_file(g.build(), {"general.alignment"});
}

TEST(GgufFile, MissingFileIsAnEnvironmentError) {
  const std::string path = ::testing::TempDir() + "lockstep_no_such_file.gguf";
  expect_error([&] { File::open(path); }, ErrorKind::environment, {path});
  expect_error([&] { File::open(::testing::TempDir()); }, ErrorKind::environment,
               {"not a regular file"});
}

TEST(GgufFile, RejectsBadMagic) {
  auto bytes = small_builder().build();
  bytes[0] = 'g';
  expect_bad_file(bytes, {"not a GGUF file (bad magic)"});
  expect_bad_file({}, {"truncated"});
}

TEST(GgufFile, RejectsUnsupportedVersions) {
  for (uint32_t v : {0u, 1u, 4u}) {
    GgufBuilder g = small_builder();
    g.version(v);
    expect_bad_file(g.build(), {"unsupported GGUF version " + std::to_string(v)});
  }
  GgufBuilder g;
  g.version(0x03000000u);
  expect_bad_file(g.build(), {"big-endian"});
}

// Cutting a valid file anywhere must give an Error, never a crash or a
// successful parse.
TEST(GgufFile, EveryPrefixIsRejected) {
  const auto bytes = small_builder().build();
  TempFile tmp(bytes);
  ASSERT_NO_THROW(File::open(tmp.path()));
  for (size_t len = 0; len < bytes.size(); ++len) {
    tmp.rewrite(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(len)));
    try {
      File::open(tmp.path());
      ADD_FAILURE() << "prefix of " << len << " bytes parsed";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_input) << len;
      EXPECT_NE(std::string(e.what()).find(tmp.path()), std::string::npos) << e.what();
    }
  }
}

TEST(GgufFile, TruncationMessagesSayWhere) {
  GgufBuilder g = small_builder();
  for (int i = 0; i < 12; ++i) g.add_f32_tensor("t" + std::to_string(i), {1}, {1.0f});
  auto bytes = g.build();
  // Cut inside tensor info #12 ("t10"): just after its name.
  const std::string needle = "t10";
  auto at = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  ASSERT_NE(at, bytes.end());
  bytes.resize(static_cast<size_t>(at - bytes.begin()) + needle.size() + 2);
  expect_bad_file(bytes, {"truncated while reading tensor info #12"});

  auto meta = small_builder().build();
  const std::string key = "t.floats";  // metadata #14, the last one
  at = std::search(meta.begin(), meta.end(), key.begin(), key.end());
  ASSERT_NE(at, meta.end());
  meta.resize(static_cast<size_t>(at - meta.begin()) + key.size() + 6);  // inside the array header
  expect_bad_file(meta, {"truncated while reading metadata #14 ('t.floats')"});
  meta.resize(40);   // too short for 15 entries at all
  expect_bad_file(meta, {"metadata count 15", "truncated or corrupt"});
}

TEST(GgufFile, RejectsHugeCountsInTinyFiles) {
  {  // array length 2^60 in a ~100-byte file
    std::vector<uint8_t> payload;
    testing::put_u32(payload, static_cast<uint32_t>(GType::U32));
    testing::put_u64(payload, 1ull << 60);
    GgufBuilder g;
    g.add_raw("huge", static_cast<uint32_t>(GType::ARRAY), payload);
    expect_bad_file(g.build(), {"huge", "array length 1152921504606846976"});
  }
  {  // string length 2^62
    std::vector<uint8_t> payload;
    testing::put_u64(payload, 1ull << 62);
    GgufBuilder g;
    g.add_raw("s", static_cast<uint32_t>(GType::STRING), payload);
    expect_bad_file(g.build(), {"string of 4611686018427387904 bytes"});
  }
  {  // kv_count and tensor_count
    auto bytes = small_builder().build();
    auto kv = bytes;
    std::memset(&kv[16], 0xFF, 7);
    expect_bad_file(kv, {"metadata count"});
    auto tensors = bytes;
    std::memset(&tensors[8], 0x7F, 8);
    expect_bad_file(tensors, {"tensor count"});
  }
}

TEST(GgufFile, RejectsMalformedMetadata) {
  {
    std::vector<uint8_t> payload;
    testing::put_u32(payload, static_cast<uint32_t>(GType::ARRAY));
    testing::put_u64(payload, 1);
    GgufBuilder g;
    g.add_raw("nested", static_cast<uint32_t>(GType::ARRAY), payload);
    expect_bad_file(g.build(), {"nested", "nested arrays are not supported"});
  }
  {
    GgufBuilder g;
    g.add_raw("weird", 13, {0, 0, 0, 0});
    expect_bad_file(g.build(), {"weird", "unknown metadata value type 13"});
  }
  {
    std::vector<uint8_t> payload;
    testing::put_u32(payload, 77);
    testing::put_u64(payload, 1);
    GgufBuilder g;
    g.add_raw("arr", static_cast<uint32_t>(GType::ARRAY), payload);
    expect_bad_file(g.build(), {"arr", "unknown array element type 77"});
  }
  {
    GgufBuilder g;
    g.add_raw("flag", static_cast<uint32_t>(GType::BOOL), {2});
    expect_bad_file(g.build(), {"flag", "bool"});
  }
  {
    GgufBuilder g;
    g.add_u32("dup", 1).add_u32("dup", 2);
    expect_bad_file(g.build(), {"dup", "duplicate key"});
  }
}

TEST(GgufFile, RejectsBadTensorInfos) {
  {
    GgufBuilder g;
    g.add_f32_tensor("x", {2}, {1, 2});
    g.add_f32_tensor("x", {2}, {1, 2});
    expect_bad_file(g.build(), {"duplicate tensor name 'x'"});
  }
  {
    GgufBuilder g;
    g.add_tensor("mystery", 99, {4}, std::vector<uint8_t>(16));
    expect_bad_file(g.build(), {"mystery", "unknown type 99"});
  }
  {
    GgufBuilder g;
    g.add_tensor("dot", /*Q8_1=*/9, {32}, std::vector<uint8_t>(36));
    expect_bad_file(g.build(), {"dot", "Q8_1"});
  }
  {
    GgufBuilder g;
    g.add_tensor("flat", 0, {}, {});
    expect_bad_file(g.build(), {"flat", "0 dimensions"});
  }
  {
    GgufBuilder g;
    g.add_tensor("deep", 0, {1, 1, 1, 1, 1}, std::vector<uint8_t>(4));
    expect_bad_file(g.build(), {"deep", "5 dimensions"});
  }
  {
    GgufBuilder g;
    g.add_tensor("empty", 0, {4, 0}, {});
    expect_bad_file(g.build(), {"empty", "invalid dimension 1"});
  }
  {
    GgufBuilder g;
    g.add_tensor("vast", 0, {1ull << 32, 1ull << 32}, std::vector<uint8_t>(4));
    expect_bad_file(g.build(), {"vast", "overflows"});
  }
  {
    GgufBuilder g;
    g.add_tensor("ragged", /*Q8_0=*/8, {16, 2}, std::vector<uint8_t>(34));
    expect_bad_file(g.build(), {"ragged", "not a multiple of the Q8_0 block size 32"});
  }
  {  // a huge byte size from a plausible element count
    GgufBuilder g;
    g.add_tensor("big", 0, {1ull << 40}, std::vector<uint8_t>(4));
    expect_bad_file(g.build(), {"big", "past the end of the file"});
  }
}

TEST(GgufFile, RejectsBadTensorOffsets) {
  {
    GgufBuilder g;
    g.add_f32_tensor("a", {2}, {1, 2});
    g.add_f32_tensor("b", {2}, {1, 2}).offset = 4;
    expect_bad_file(g.build(), {"'b'", "offset 4", "alignment 32"});
  }
  {
    GgufBuilder g;
    g.add_f32_tensor("a", {2}, {1, 2});
    auto bytes = g.build();
    bytes.resize(bytes.size() - 1);
    expect_bad_file(bytes, {"'a'", "past the end of the file"});
  }
  {
    GgufBuilder g;
    auto& t = g.add_f32_tensor("far", {2}, {1, 2});
    t.offset = 1ull << 62;
    t.write_data = false;
    expect_bad_file(g.build(), {"'far'", "past the end of the file"});
  }
  {  // offset + size wraps around 2^64
    GgufBuilder g;
    auto& t = g.add_f32_tensor("wrap", {2}, {1, 2});
    t.offset = ~uint64_t{31};
    t.write_data = false;
    expect_bad_file(g.build(), {"'wrap'", "past the end of the file"});
  }
}

// Random corruption must end in a parse or an Error, never a crash.
TEST(GgufFile, SurvivesRandomCorruption) {
  const auto bytes = small_builder().build();
  TempFile tmp(bytes);
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    auto bad = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      bad[rng() % bad.size()] = static_cast<uint8_t>(rng() >> 7);
    }
    tmp.rewrite(bad);
    try {
      const File f = File::open(tmp.path());
      for (const TensorInfo& t : f.tensors()) {
        std::vector<float> out(static_cast<size_t>(t.n_elements()));
        f.dequantize(t, out.data());
      }
    } catch (const Error&) {
    }
  }
}

// ---- the real model --------------------------------------------------------------

TEST(GgufModel, ReadsSmolLM2) {
  const std::string path = LOCKSTEP_DEFAULT_MODEL;
  if (path.empty() || !std::filesystem::exists(path)) GTEST_SKIP() << "no model at '" << path << "'";
  const File f = File::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata().size(), 33u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.block_count"), 30);
  EXPECT_EQ(f.get_int("llama.context_length"), 8192);
  EXPECT_EQ(f.get_int("llama.embedding_length"), 576);
  EXPECT_EQ(f.get_int("llama.feed_forward_length"), 1536);
  EXPECT_EQ(f.get_int("llama.attention.head_count"), 9);
  EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 3);
  EXPECT_EQ(f.get_int("llama.rope.dimension_count"), 64);
  EXPECT_EQ(f.get_int("llama.vocab_size"), 49152);
  EXPECT_EQ(f.get_float("llama.rope.freq_base"), 100000.0);
  EXPECT_EQ(f.get_float("llama.attention.layer_norm_rms_epsilon"), static_cast<double>(1e-5f));
  EXPECT_EQ(f.get_int("general.file_type"), 3);
  EXPECT_FALSE(f.get_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "smollm");
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_EQ(f.get_string_array("general.languages"), std::vector<std::string>{"en"});
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 49152u);
  EXPECT_EQ(f.get_int_array("tokenizer.ggml.token_type").size(), 49152u);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.merges").size(), 48900u);
  EXPECT_FALSE(f.has("general.alignment"));

  ASSERT_EQ(f.tensors().size(), 272u);
  int q4_1 = 0, f32 = 0, q8_0 = 0;
  for (const TensorInfo& t : f.tensors()) {
    q4_1 += t.type == TensorType::Q4_1;
    f32 += t.type == TensorType::F32;
    q8_0 += t.type == TensorType::Q8_0;
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
  }
  EXPECT_EQ(q4_1, 210);
  EXPECT_EQ(f32, 61);
  EXPECT_EQ(q8_0, 1);
  const TensorInfo& embd = f.tensor("token_embd.weight");
  EXPECT_EQ(embd.type, TensorType::Q8_0);
  EXPECT_EQ(embd.dims, (std::vector<int64_t>{576, 49152}));
  EXPECT_EQ(embd.shape(), (std::vector<int64_t>{49152, 576}));
  EXPECT_EQ(embd.n_bytes, 30081024u);
  EXPECT_EQ(embd.offset, 0u);
  const TensorInfo& down = f.tensor("blk.0.ffn_down.weight");
  EXPECT_EQ(down.type, TensorType::Q4_1);
  EXPECT_EQ(down.dims, (std::vector<int64_t>{1536, 576}));
  EXPECT_EQ(down.n_bytes, 552960u);
  // gguf-py reports absolute offsets: data section at 1785664.
  EXPECT_EQ(f.tensor_data(down) - f.tensor_data(embd), 31868992 - 1785664);
}

}  // namespace
}  // namespace lockstep::gguf

// The in-memory entry points (File::from_bytes) that the fuzz targets use:
// the same parse as File::open over a file, messages named after `name`,
// and the borrowed bytes are never written or freed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/weights/gguf.h"
#include "core/weights/safetensors.h"
#include "tests/core/weights/gguf_builder.h"
#include "tests/core/weights/safetensors_builder.h"

namespace lockstep {
namespace {

TEST(FromBytes, SafetensorsMatchesTheFileReader) {
  testing::SafetensorsBuilder b;
  b.add_f32("w", {2, 2}, {1.0f, -2.0f, 3.0f, 0.5f});
  const std::vector<uint8_t> bytes = b.build();
  const std::vector<uint8_t> copy = bytes;
  {
    const auto file = safetensors::File::from_bytes(bytes.data(), bytes.size(), "mem.safetensors");
    EXPECT_EQ(file.path(), "mem.safetensors");
    ASSERT_EQ(file.tensors().size(), 1u);
    std::vector<float> out(4);
    file.read_f32(file.tensor("w"), out.data());
    EXPECT_EQ(out, (std::vector<float>{1.0f, -2.0f, 3.0f, 0.5f}));
  }
  EXPECT_EQ(bytes, copy);  // destroying the File did not touch the borrowed bytes
  testing::TempDir dir;
  const auto from_disk = safetensors::File::open(dir.write("w.safetensors", bytes));
  EXPECT_EQ(from_disk.tensors()[0].shape, (std::vector<int64_t>{2, 2}));
}

TEST(FromBytes, SafetensorsErrorsNameTheOrigin) {
  const std::vector<uint8_t> bytes = {1, 2, 3};
  try {
    (void)safetensors::File::from_bytes(bytes.data(), bytes.size(), "mem.safetensors");
    FAIL() << "a 3-byte input parsed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input);
    EXPECT_NE(std::string(e.what()).find("mem.safetensors: truncated"), std::string::npos) << e.what();
  }
}

TEST(FromBytes, GgufMatchesTheFileReader) {
  testing::GgufBuilder b;
  b.add_string("general.architecture", "llama");
  const float values[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  const auto* raw = reinterpret_cast<const uint8_t*>(values);
  b.add_tensor("t", /*F32=*/0, {4}, std::vector<uint8_t>(raw, raw + sizeof(values)));
  const std::vector<uint8_t> bytes = b.build();
  const auto file = gguf::File::from_bytes(bytes.data(), bytes.size(), "mem.gguf");
  EXPECT_EQ(file.path(), "mem.gguf");
  EXPECT_EQ(file.get_string("general.architecture"), "llama");
  std::vector<float> out(4);
  file.dequantize(file.tensor("t"), out.data());
  EXPECT_EQ(out, (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}));
  EXPECT_THROW((void)gguf::File::from_bytes(bytes.data(), 10, "mem.gguf"), Error);
  EXPECT_THROW((void)gguf::File::from_bytes(nullptr, 0, "empty.gguf"), Error);
}

}  // namespace
}  // namespace lockstep

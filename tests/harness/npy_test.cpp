#include "harness/results/npy.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "temp_dir.h"

namespace lockstep::harness {
namespace {

std::string dict_of(const std::string& header) { return header.substr(10); }

TEST(Npy, HeaderFollowsVersion1Layout) {
  const std::string h = npy_header_f32({3, 49152});
  ASSERT_GE(h.size(), 10u);
  EXPECT_EQ(h.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = static_cast<unsigned char>(h[8]) | (static_cast<unsigned char>(h[9]) << 8);
  EXPECT_EQ(header_len + 10, h.size());
  EXPECT_EQ(h.size() % 64, 0u);
  EXPECT_EQ(h.back(), '\n');
  EXPECT_EQ(dict_of(h).rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 49152), }", 0), 0u) << dict_of(h);
  // Padding is spaces only.
  const std::string tail = dict_of(h).substr(dict_of(h).find('}') + 1);
  EXPECT_EQ(tail.find_first_not_of(' '), tail.size() - 1);
}

TEST(Npy, ShapeTuples) {
  EXPECT_NE(npy_header_f32({5}).find("'shape': (5,)"), std::string::npos);
  EXPECT_NE(npy_header_f32({}).find("'shape': ()"), std::string::npos);
  EXPECT_NE(npy_header_f32({0, 7}).find("'shape': (0, 7)"), std::string::npos);
  EXPECT_THROW(npy_header_f32({-1}), Error);
}

TEST(Npy, WritesLittleEndianDataAfterHeader) {
  const testing::TempDir dir;
  const std::string path = dir / "sub/a.npy";
  const std::vector<float> data = {1.0f, -2.5f, 0.0f, 3.0e-38f, 7.0f, 1e30f};
  write_npy_f32(path, {2, 3}, data);
  const std::string bytes = testing::read_file(path);
  const std::string header = npy_header_f32({2, 3});
  ASSERT_EQ(bytes.size(), header.size() + 4 * data.size());
  EXPECT_EQ(bytes.substr(0, header.size()), header);
  for (size_t i = 0; i < data.size(); ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) {
      bits |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[header.size() + 4 * i + b])) << (8 * b);
    }
    float value;
    std::memcpy(&value, &bits, 4);
    EXPECT_EQ(value, data[i]);
  }
  EXPECT_EQ(testing::entries_in(dir / "sub"), 1);   // no temporary file is left beside it
}

TEST(Npy, SizeMismatchIsBadInput) {
  EXPECT_THROW(write_npy_f32("/tmp/never-written.npy", {2, 2}, {1.0f}), Error);
}

}  // namespace
}  // namespace lockstep::harness

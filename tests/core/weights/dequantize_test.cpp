#include "core/weights/dequantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/weights/gguf.h"

namespace lockstep::gguf {
namespace {

uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Float64 sum taken left to right, as np.cumsum does in make_reference_values.py.
double sequential_sum(const std::vector<float>& v) {
  double s = 0.0;
  for (float x : v) s += static_cast<double>(x);
  return s;
}

// sum((i + 1) * bits[i]) mod 2^64: a position-sensitive check of every bit.
uint64_t bit_checksum(const std::vector<float>& v) {
  uint64_t s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += static_cast<uint64_t>(i + 1) * bits(v[i]);
  return s;
}

std::vector<float> run(TensorType type, const std::vector<uint8_t>& src) {
  const BlockLayout layout = block_layout(type);
  const int64_t n = static_cast<int64_t>(src.size()) / layout.bytes * layout.elements;
  std::vector<float> out(static_cast<size_t>(n), -12345.0f);
  dequantize(type, src.data(), n, out.data());
  return out;
}

void put_half(std::vector<uint8_t>& b, size_t at, uint16_t h) { std::memcpy(&b[at], &h, 2); }

// ---- half / bf16 ----------------------------------------------------------

TEST(HalfToFloat, EdgeCases) {
  EXPECT_EQ(bits(half_to_float(0x0000)), 0x00000000u);              // +0
  EXPECT_EQ(bits(half_to_float(0x8000)), 0x80000000u);              // -0
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);                       // largest finite
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));          // smallest normal
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));          // smallest subnormal
  EXPECT_EQ(half_to_float(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x03FF), std::ldexp(1023.0f, -24));       // largest subnormal
  EXPECT_EQ(half_to_float(0x0200), std::ldexp(1.0f, -15));
  EXPECT_EQ(bits(half_to_float(0x7C00)), 0x7F800000u);              // +inf
  EXPECT_EQ(bits(half_to_float(0xFC00)), 0xFF800000u);              // -inf
  EXPECT_EQ(bits(half_to_float(0x7E00)), 0x7FC00000u);              // quiet NaN
  EXPECT_EQ(bits(half_to_float(0xFE00)), 0xFFC00000u);
  EXPECT_EQ(bits(half_to_float(0x7C01)), 0x7F802000u);              // payload kept
  EXPECT_TRUE(std::isnan(half_to_float(0x7FFF)));
}

TEST(HalfToFloat, ExhaustiveAgainstLdexp) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0x1F) {
      EXPECT_EQ(std::isnan(half_to_float(static_cast<uint16_t>(h))), mant != 0) << h;
      continue;
    }
    double v = exp == 0 ? std::ldexp(static_cast<double>(mant), -24)
                        : std::ldexp(static_cast<double>(1024 + mant), static_cast<int>(exp) - 25);
    if (h & 0x8000) v = -v;
    const float got = half_to_float(static_cast<uint16_t>(h));
    ASSERT_EQ(bits(got), bits(static_cast<float>(v))) << "half 0x" << std::hex << h;
  }
}

TEST(Bf16ToFloat, IsTheTopHalf) {
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_float(0xC000), -2.0f);
  EXPECT_EQ(bits(bf16_to_float(0x8000)), 0x80000000u);
  EXPECT_EQ(bits(bf16_to_float(0x0001)), 0x00010000u);  // subnormal
  EXPECT_EQ(bits(bf16_to_float(0x7F80)), 0x7F800000u);
  EXPECT_EQ(bits(bf16_to_float(0x7FC1)), 0x7FC10000u);
}

// ---- layouts ----------------------------------------------------------------

TEST(BlockLayout, MatchesGgml) {
  struct Row { TensorType type; int64_t elements, bytes; };
  const Row rows[] = {
      {TensorType::F32, 1, 4},     {TensorType::F16, 1, 2},     {TensorType::BF16, 1, 2},
      {TensorType::Q4_0, 32, 18},  {TensorType::Q4_1, 32, 20},  {TensorType::Q5_0, 32, 22},
      {TensorType::Q5_1, 32, 24},  {TensorType::Q8_0, 32, 34},  {TensorType::Q2_K, 256, 84},
      {TensorType::Q3_K, 256, 110}, {TensorType::Q4_K, 256, 144}, {TensorType::Q5_K, 256, 176},
      {TensorType::Q6_K, 256, 210}, {TensorType::Q8_K, 256, 292},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(std::string(type_name(r.type)));
    EXPECT_TRUE(can_dequantize(r.type));
    EXPECT_EQ(block_layout(r.type).elements, r.elements);
    EXPECT_EQ(block_layout(r.type).bytes, r.bytes);
  }
}

TEST(BlockLayout, Q8_1AndUnknownTypesAreRejected) {
  EXPECT_FALSE(can_dequantize(TensorType::Q8_1));
  try {
    block_layout(TensorType::Q8_1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input);
    EXPECT_NE(std::string(e.what()).find("Q8_1"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(can_dequantize(static_cast<TensorType>(99)));
  EXPECT_THROW(block_layout(static_cast<TensorType>(99)), Error);
}

TEST(Dequantize, PartialBlockIsRejected) {
  std::vector<uint8_t> block(34, 0);
  std::vector<float> out(32);
  EXPECT_THROW(dequantize(TensorType::Q8_0, block.data(), 31, out.data()), Error);
  EXPECT_THROW(dequantize(TensorType::Q6_K, block.data(), 32, out.data()), Error);
}

// ---- hand-made blocks ---------------------------------------------------------

TEST(Dequantize, F32F16Bf16) {
  std::vector<uint8_t> f32(8);
  const float fv[2] = {1.5f, -0.0f};
  std::memcpy(f32.data(), fv, 8);
  auto y = run(TensorType::F32, f32);
  EXPECT_EQ(y[0], 1.5f);
  EXPECT_EQ(bits(y[1]), 0x80000000u);

  std::vector<uint8_t> f16 = {0x00, 0x3C, 0x01, 0x00, 0x00, 0xFC};  // 1, 2^-24, -inf
  y = run(TensorType::F16, f16);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], std::ldexp(1.0f, -24));
  EXPECT_EQ(bits(y[2]), 0xFF800000u);

  std::vector<uint8_t> bf16 = {0x80, 0x3F, 0x49, 0x40};  // 1, 3.140625
  y = run(TensorType::BF16, bf16);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 3.140625f);
}

TEST(Dequantize, Q8_0) {
  std::vector<uint8_t> b(34);
  put_half(b, 0, 0x3800);  // d = 0.5
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 128));
  auto y = run(TensorType::Q8_0, b);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j * 8 - 128) * 0.5f) << j;
}

TEST(Dequantize, Q4_0) {
  std::vector<uint8_t> b(18);
  put_half(b, 0, 0x4000);  // d = 2
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto y = run(TensorType::Q4_0, b);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 2.0f) << j;
    EXPECT_EQ(y[j + 16], (7 - j) * 2.0f) << j;
  }
}

TEST(Dequantize, Q4_1) {
  std::vector<uint8_t> b(20);
  put_half(b, 0, 0x3400);  // d = 0.25
  put_half(b, 2, 0xBC00);  // m = -1
  for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto y = run(TensorType::Q4_1, b);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j * 0.25f - 1.0f) << j;
    EXPECT_EQ(y[j + 16], (15 - j) * 0.25f - 1.0f) << j;
  }
}

TEST(Dequantize, Q5_0AndQ5_1) {
  std::vector<uint8_t> b(22);
  put_half(b, 0, 0x3C00);  // d = 1
  const uint32_t qh = 0xAAAAAAAAu;  // fifth bit set on odd elements
  std::memcpy(&b[2], &qh, 4);
  for (int j = 0; j < 16; ++j) b[6 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto y = run(TensorType::Q5_0, b);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], static_cast<float>((j | ((j & 1) << 4)) - 16)) << j;
    EXPECT_EQ(y[j + 16], static_cast<float>(((15 - j) | ((j & 1) << 4)) - 16)) << j;
  }

  std::vector<uint8_t> c(24);
  put_half(c, 0, 0x3800);  // d = 0.5
  put_half(c, 2, 0x4200);  // m = 3
  std::memcpy(&c[4], &qh, 4);
  for (int j = 0; j < 16; ++j) c[8 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  y = run(TensorType::Q5_1, c);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j | ((j & 1) << 4)) * 0.5f + 3.0f) << j;
    EXPECT_EQ(y[j + 16], ((15 - j) | ((j & 1) << 4)) * 0.5f + 3.0f) << j;
  }
}

TEST(Dequantize, Q2_K) {
  std::vector<uint8_t> b(84);
  for (int i = 0; i < 16; ++i) b[i] = static_cast<uint8_t>((1 << 4) | (i % 4 + 1));  // min 1, scale 1..4
  for (int i = 0; i < 64; ++i) b[16 + i] = 0xE4;  // 2-bit values 0,1,2,3 at shifts 0,2,4,6
  put_half(b, 80, 0x3C00);  // d = 1
  put_half(b, 82, 0x3800);  // dmin = 0.5
  auto y = run(TensorType::Q2_K, b);
  for (int e = 0; e < 256; ++e) {
    const int q = (e % 128) / 32, sc = (e / 16) % 4 + 1;
    EXPECT_EQ(y[e], static_cast<float>(sc * q) - 0.5f) << e;
  }
}

TEST(Dequantize, Q3_K) {
  std::vector<uint8_t> b(110);
  for (int i = 0; i < 32; ++i) b[i] = 0x0F;         // high bit set for quarters 0..3 only
  for (int i = 0; i < 64; ++i) b[32 + i] = 0xE4;    // 0,1,2,3 at shifts 0,2,4,6
  for (int i = 0; i < 8; ++i) b[96 + i] = 0x11;     // low 4 bits of all 16 scales = 1
  for (int i = 0; i < 4; ++i) b[104 + i] = 0xAA;    // high 2 bits = 2 -> scale 33 - 32 = 1
  put_half(b, 108, 0x4000);                         // d = 2
  auto y = run(TensorType::Q3_K, b);
  for (int e = 0; e < 256; ++e) {
    const int q = (e % 128) / 32 - ((e / 32) < 4 ? 0 : 4);
    EXPECT_EQ(y[e], 2.0f * q) << e;
  }
}

TEST(Dequantize, Q4_K) {
  std::vector<uint8_t> b(144);
  put_half(b, 0, 0x3C00);  // d = 1
  put_half(b, 2, 0x3800);  // dmin = 0.5
  const uint8_t scales[12] = {0x41, 2, 3, 4, 0, 0, 0, 0, 0x15, 0x16, 0x17, 0x18};
  std::memcpy(&b[4], scales, 12);
  for (int i = 0; i < 128; ++i) b[16 + i] = 0x93;  // low nibble 3, high 9
  auto y = run(TensorType::Q4_K, b);
  // sc = {1,2,3,4, 5|(1<<4)=21,6,7,8}, min = {0,0,0,0,1,1,1,1}
  const float expect[8] = {3, 18, 9, 36, 62.5f, 53.5f, 20.5f, 71.5f};
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], expect[e / 32]) << e;
}

TEST(Dequantize, Q5_K) {
  std::vector<uint8_t> b(176);
  put_half(b, 0, 0x3C00);  // d = 1
  put_half(b, 2, 0x3C00);  // dmin = 1
  const uint8_t scales[12] = {1, 1, 1, 1, 2, 2, 2, 2, 0x21, 0x21, 0x21, 0x21};  // sc 1, min 2
  std::memcpy(&b[4], scales, 12);
  for (int p = 0; p < 32; ++p) b[16 + p] = 0x55;  // fifth bit on even groups
  for (int i = 0; i < 128; ++i) b[48 + i] = 0x93;
  auto y = run(TensorType::Q5_K, b);
  for (int e = 0; e < 256; ++e) {
    const int g = e / 32;
    const int q = (g % 2 ? 9 : 3) | (g % 2 ? 0 : 16);
    EXPECT_EQ(y[e], static_cast<float>(q) - 2.0f) << e;
  }
}

TEST(Dequantize, Q6_K) {
  std::vector<uint8_t> b(210);
  for (int i = 0; i < 128; ++i) b[i] = 0x21;            // low nibble 1, high 2
  for (int i = 0; i < 64; ++i) b[128 + i] = 0xE4;       // quarter k gets top bits k
  for (int i = 0; i < 16; ++i) b[192 + i] = static_cast<uint8_t>(static_cast<int8_t>(i - 8));
  put_half(b, 208, 0x3C00);
  b[64 + 32 + 5] = 0x3F;  // second half, quarter 1 (low nibble) and 3 (high nibble), p = 5
  auto y = run(TensorType::Q6_K, b);
  const int q[4] = {1 - 32, (1 | 16) - 32, (2 | 32) - 32, (2 | 48) - 32};
  for (int e = 0; e < 256; ++e) {
    const float sc = static_cast<float>(e / 16 - 8);
    if (e == 128 + 32 + 5) {
      EXPECT_EQ(y[e], sc * static_cast<float>((15 | 16) - 32));
    } else if (e == 128 + 96 + 5) {
      EXPECT_EQ(y[e], sc * static_cast<float>((3 | 48) - 32));
    } else {
      EXPECT_EQ(y[e], sc * static_cast<float>(q[(e % 128) / 32])) << e;
    }
  }
}

TEST(Dequantize, Q8_K) {
  std::vector<uint8_t> b(292, 0);
  const float d = 0.25f;
  std::memcpy(&b[0], &d, 4);
  for (int j = 0; j < 256; ++j) b[4 + j] = static_cast<uint8_t>(j);
  auto y = run(TensorType::Q8_K, b);
  for (int j = 0; j < 256; ++j) EXPECT_EQ(y[j], static_cast<int8_t>(j) * 0.25f) << j;
}

// ---- pseudo-random blocks against gguf-py -------------------------------------

// Same generator and patching as random_blocks() in make_reference_values.py.
std::vector<uint8_t> lcg_blocks(TensorType type, int n_blocks, std::vector<int> halves) {
  const BlockLayout layout = block_layout(type);
  std::vector<uint8_t> out(static_cast<size_t>(n_blocks * layout.bytes));
  uint64_t state = static_cast<uint64_t>(type);
  for (uint8_t& byte : out) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    byte = static_cast<uint8_t>(state >> 56);
  }
  if (halves.empty()) {
    for (size_t i = 1; i < out.size(); i += 2) out[i] &= 0xBF;
  } else {
    for (int b = 0; b < n_blocks; ++b) {
      for (int off : halves) out[static_cast<size_t>(b * layout.bytes + off + 1)] &= 0xBF;
    }
  }
  return out;
}

struct RandomReference {
  TensorType type;
  int n_blocks;
  uint32_t first[4];
  double sum;
  uint64_t checksum;
};

// Generated by make_reference_values.py (gguf 0.19.0).
const RandomReference kRandomBlocks[] = {
    {TensorType::F16, 1280, {0xb81b0000u, 0x3c54a000u, 0xb74b0000u, 0x3a11a000u}, 0x1.7221aa0000000p+1, 0x0006324fb3700000ull},
    {TensorType::BF16, 1280, {0x156d0000u, 0x99e50000u, 0x80bd0000u, 0xa3520000u}, -0x1.4254cb84ea43dp+1, 0x0004d3b5efe10000ull},
    {TensorType::Q4_0, 40, {0x3ed88000u, 0xbe875000u, 0x3e226000u, 0x3ed88000u}, 0x1.a73cf65000000p+5, 0x0005f556f5c5ac00ull},
    {TensorType::Q4_1, 40, {0x3c6cf000u, 0x3b506000u, 0x3b178000u, 0x3c424800u}, -0x1.4690b3b000000p+8, 0x0005a95e548d2bbcull},
    {TensorType::Q5_0, 40, {0xbb578400u, 0x3a84a000u, 0xbb78ac00u, 0xbaa5c800u}, 0x1.0385e80600000p+7, 0x00061a95d96d5600ull},
    {TensorType::Q5_1, 40, {0xc045a686u, 0xbfb3ad0cu, 0xc0f29343u, 0xc086c343u}, 0x1.51f49d5100000p+8, 0x00057915e2fec746ull},
    {TensorType::Q8_0, 40, {0xbd97bc00u, 0x3ebdab00u, 0xbef23100u, 0x3dddc400u}, -0x1.3dbda6f000000p+10, 0x0006546bf2d94a00ull},
    {TensorType::Q2_K, 40, {0x3c850000u, 0x3c91e2c0u, 0x3c985420u, 0x3c91e2c0u}, 0x1.1eaff65380000p+12, 0x01767f4b665372acull},
    {TensorType::Q3_K, 40, {0xc0a71000u, 0x41271000u, 0x417a9800u, 0xc1271000u}, 0x1.1188dd91c0000p+11, 0x016ec3b3d411db80ull},
    {TensorType::Q4_K, 40, {0xc26db1c0u, 0xc2ecede0u, 0xc1ef3980u, 0xc3b15078u}, 0x1.96c93e9d13000p+16, 0x0168b1b268487737ull},
    {TensorType::Q5_K, 40, {0x4189a6a0u, 0x422d6a50u, 0x41ae90a0u, 0x4214ce50u}, 0x1.16fc3b0b93c00p+19, 0x016d528098b2aa75ull},
    {TensorType::Q6_K, 40, {0xbd6e7700u, 0xbbee7700u, 0xbe493468u, 0x3cee7700u}, -0x1.3693d16edc800p+17, 0x018f0ef790e982a8ull},
};

std::vector<int> half_offsets(TensorType type) {
  switch (type) {
    case TensorType::Q4_1: case TensorType::Q5_1: case TensorType::Q4_K: case TensorType::Q5_K:
      return {0, 2};
    case TensorType::Q4_0: case TensorType::Q5_0: case TensorType::Q8_0: return {0};
    case TensorType::Q2_K: return {80, 82};
    case TensorType::Q3_K: return {108};
    case TensorType::Q6_K: return {208};
    default: return {};  // F16 / BF16: every element
  }
}

TEST(Dequantize, RandomBlocksMatchGgufPy) {
  for (const RandomReference& ref : kRandomBlocks) {
    SCOPED_TRACE(std::string(type_name(ref.type)));
    const auto src = lcg_blocks(ref.type, ref.n_blocks, half_offsets(ref.type));
    const auto y = run(ref.type, src);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(bits(y[i]), ref.first[i]) << i;
    EXPECT_EQ(sequential_sum(y), ref.sum);
    EXPECT_EQ(bit_checksum(y), ref.checksum);
  }
}

// ---- the real model --------------------------------------------------------------

struct TensorReference {
  const char* name;
  int64_t n_elements;
  int64_t stride;
  uint32_t first[8];
  struct { int64_t index; uint32_t bits; } samples[16];
  double sum;
  uint64_t checksum;
};

// Generated by make_reference_values.py (gguf 0.19.0) from SmolLM2-135M-Instruct.Q4_1.gguf.
const TensorReference kReferences[] = {
    {"token_embd.weight", 28311552, 1769473,
     {0xbdda3400u, 0x3d071400u, 0x3d456c00u, 0xbcbb0800u, 0xbd8c4600u, 0xbd3b0800u, 0x3ca64000u, 0xbdf96000u},
     {{0, 0xbdda3400u}, {1769473, 0x3deff800u}, {3538946, 0x3e04ae00u}, {5308419, 0x3d85b800u}, {7077892, 0xbd466c00u}, {8847365, 0x3c77e000u}, {10616838, 0xbd2ea800u}, {12386311, 0x3d830000u}, {14155784, 0xbdc92300u}, {15925257, 0xbe0e7100u}, {17694730, 0xbd02fe00u}, {19464203, 0xbd5c7800u}, {21233676, 0xbd64ec00u}, {23003149, 0xbd265000u}, {24772622, 0xbe83a900u}, {26542095, 0x3d6cf400u}},
     -0x1.dfc85b1fc0000p+13, 0x779fe7cb39c5bf80ull},
    {"blk.0.attn_q.weight", 331776, 20737,
     {0xbdc54000u, 0x3e212000u, 0xbdc54000u, 0xbf3b0000u, 0x3f960400u, 0xbdc54000u, 0x3cfa0000u, 0x3f2a2800u},
     {{0, 0xbdc54000u}, {20737, 0x3e981800u}, {41474, 0xbe516000u}, {62211, 0x3f1a7800u}, {82948, 0x3e3a6000u}, {103685, 0xbce70000u}, {124422, 0xbb7c0000u}, {145159, 0x3eafd800u}, {165896, 0xbf760000u}, {186633, 0xbdc28000u}, {207370, 0xbc4e0000u}, {228107, 0x3da44000u}, {248844, 0x3d558000u}, {269581, 0xbe8ba000u}, {290318, 0x3f28e800u}, {311055, 0x3eb3d000u}},
     0x1.d9c9280000000p+5, 0x4985974afd7c1a00ull},
    {"blk.29.ffn_down.weight", 884736, 55297,
     {0xbe8bf000u, 0x3e3ec000u, 0x3e3ec000u, 0x3d464000u, 0x3e3ec000u, 0x3e3ec000u, 0xbea37800u, 0xbe39c000u},
     {{0, 0xbe8bf000u}, {55297, 0xbc6b8000u}, {110594, 0x3d196000u}, {165891, 0x3e80f000u}, {221188, 0xbd850000u}, {276485, 0x3e7c0000u}, {331782, 0x3b890000u}, {387079, 0x3e368800u}, {442376, 0x3daa6000u}, {497673, 0xbec60000u}, {552970, 0xbdab8000u}, {608267, 0x3bb60000u}, {663564, 0x3c1f0000u}, {718861, 0xbe41a000u}, {774158, 0x3c920000u}, {829455, 0xbe093800u}},
     0x1.8eaf880000000p+5, 0xbbdb33a363dc2000ull},
    {"blk.0.attn_norm.weight", 576, 37,
     {0x3c650000u, 0x3cc30000u, 0xbca20000u, 0xbcf80000u, 0xbca10000u, 0xbd100000u, 0x3cb90000u, 0xbca40000u},
     {{0, 0x3c650000u}, {37, 0xbccd0000u}, {74, 0xbb6f0000u}, {111, 0xbcb50000u}, {148, 0x3d120000u}, {185, 0x3c2c0000u}, {222, 0xbc970000u}, {259, 0x3bcb0000u}, {296, 0x3b940000u}, {333, 0x3d300000u}, {370, 0x3d040000u}, {407, 0x3cf30000u}, {444, 0x3ba20000u}, {481, 0xbde00000u}, {518, 0xbcb80000u}, {555, 0x3d5a0000u}},
     0x1.39d3c00000000p-1, 0x000132a306ab0000ull},
    {"output_norm.weight", 576, 37,
     {0x3fe10000u, 0x3fe90000u, 0x3fe40000u, 0x3fcd0000u, 0x3fdf0000u, 0x3fdc0000u, 0x3fea0000u, 0x3fe00000u},
     {{0, 0x3fe10000u}, {37, 0x3fee0000u}, {74, 0x40000000u}, {111, 0x3fe40000u}, {148, 0x3fe30000u}, {185, 0x3fea0000u}, {222, 0x3fe10000u}, {259, 0x3fd70000u}, {296, 0x403e0000u}, {333, 0x3ff60000u}, {370, 0x3fdb0000u}, {407, 0x3fdc0000u}, {444, 0x3fd20000u}, {481, 0x401d0000u}, {518, 0x3fdb0000u}, {555, 0x3ff80000u}},
     0x1.0395400000000p+10, 0x0000a28ba9da0000ull},
};

TEST(DequantizeModel, MatchesGgufPyBitwise) {
  const std::string path = LOCKSTEP_DEFAULT_MODEL;
  if (path.empty() || !std::filesystem::exists(path)) GTEST_SKIP() << "no model at '" << path << "'";
  const File file = File::open(path);
  for (const TensorReference& ref : kReferences) {
    SCOPED_TRACE(ref.name);
    const TensorInfo& info = file.tensor(ref.name);
    ASSERT_EQ(info.n_elements(), ref.n_elements);
    std::vector<float> y(static_cast<size_t>(info.n_elements()));
    file.dequantize(info, y.data());
    for (int i = 0; i < 8; ++i) EXPECT_EQ(bits(y[i]), ref.first[i]) << i;
    for (const auto& s : ref.samples) {
      EXPECT_EQ(s.index % ref.stride, 0);
      EXPECT_EQ(bits(y[static_cast<size_t>(s.index)]), s.bits) << s.index;
    }
    EXPECT_EQ(sequential_sum(y), ref.sum);
    EXPECT_EQ(bit_checksum(y), ref.checksum);
  }
}

}  // namespace
}  // namespace lockstep::gguf

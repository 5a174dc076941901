// Block layouts follow ggml-common.h; the arithmetic mirrors gguf-py's
// quants.py operation by operation (all in float32, same operand order), so
// that results are bitwise equal to its numpy dequantization. Multi-byte
// fields are read with memcpy: blocks are not aligned, and the host is
// little-endian like the file.
#include "core/weights/dequantize.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace lockstep::gguf {
namespace {

constexpr int64_t QK = 32;    // elements per block of the legacy formats
constexpr int64_t QK_K = 256; // elements per K-quant super-block

float load_half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return half_to_float(h);
}

float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void dequant_f32(const uint8_t* src, int64_t n, float* dst) {
  std::memcpy(dst, src, static_cast<size_t>(n) * 4);
}

void dequant_f16(const uint8_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = load_half(src + 2 * i);
}

void dequant_bf16(const uint8_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = bf16_to_float(h);
  }
}

// Q4_0: half d, 16 bytes; low nibbles are elements 0..15, high 16..31.
void dequant_q4_0(const uint8_t* b, float* y) {
  const float d = load_half(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < QK / 2; ++j) {
    y[j] = d * static_cast<float>((qs[j] & 0x0F) - 8);
    y[j + QK / 2] = d * static_cast<float>((qs[j] >> 4) - 8);
  }
}

// Q4_1: half d, half m, 16 bytes of nibbles; x = (d * q) + m.
void dequant_q4_1(const uint8_t* b, float* y) {
  const float d = load_half(b);
  const float m = load_half(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < QK / 2; ++j) {
    y[j] = d * static_cast<float>(qs[j] & 0x0F) + m;
    y[j + QK / 2] = d * static_cast<float>(qs[j] >> 4) + m;
  }
}

// The 32 five-bit values of a Q5_0 / Q5_1 block: low 4 bits from 16 bytes of
// nibbles at qs (element j low, j + 16 high), fifth bits from the u32 at qh
// (bit j for element j).
void unpack_q5(const uint8_t* qh_bytes, const uint8_t* qs, int q[QK]) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < QK / 2; ++j) {
    q[j] = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1) << 4);
    q[j + QK / 2] = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
  }
}

// Q5_0: half d, u32 of fifth bits, 16 bytes of nibbles; x = d * (q - 16).
void dequant_q5_0(const uint8_t* b, float* y) {
  const float d = load_half(b);
  int q[QK];
  unpack_q5(b + 2, b + 6, q);
  for (int j = 0; j < QK; ++j) y[j] = d * static_cast<float>(q[j] - 16);
}

// Q5_1: half d, half m, u32 of fifth bits, 16 bytes of nibbles; x = (d * q) + m.
void dequant_q5_1(const uint8_t* b, float* y) {
  const float d = load_half(b);
  const float m = load_half(b + 2);
  int q[QK];
  unpack_q5(b + 4, b + 8, q);
  for (int j = 0; j < QK; ++j) y[j] = d * static_cast<float>(q[j]) + m;
}

// Q8_0: half d, 32 int8.
void dequant_q8_0(const uint8_t* b, float* y) {
  const float d = load_half(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < QK; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// Q2_K: scales[16] (low nibble scale, high nibble min), qs[64] of 2-bit
// values, half d, half dmin. Each 128-element half uses 32 bytes of qs
// at shifts 0, 2, 4, 6.
void dequant_q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  const float d = load_half(b + 80);
  const float dmin = load_half(b + 82);
  for (int e = 0; e < QK_K; ++e) {
    const int half = e / 128, shift = 2 * ((e % 128) / 32), p = e % 32;
    const uint8_t sc = scales[e / 16];
    const float dl = d * static_cast<float>(sc & 0x0F);
    const float ml = dmin * static_cast<float>(sc >> 4);
    const int q = (qs[half * 32 + p] >> shift) & 3;
    y[e] = dl * static_cast<float>(q) - ml;
  }
}

// Q3_K: hmask[32], qs[64], 12 bytes of packed 6-bit scales, half d. The
// high bit *clear* means subtract 4.
void dequant_q3_k(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  const uint8_t* sc = b + 96;
  const float d = load_half(b + 108);
  float dl[16];
  for (int i = 0; i < 16; ++i) {
    int lo = (i < 8 ? sc[i] : sc[i - 8] >> 4) & 0x0F;
    int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 0x03;
    dl[i] = d * static_cast<float>((lo | (hi << 4)) - 32);
  }
  for (int e = 0; e < QK_K; ++e) {
    const int half = e / 128, shift = 2 * ((e % 128) / 32), p = e % 32;
    const int ql = (qs[half * 32 + p] >> shift) & 3;
    const int h = (hmask[p] >> (e / 32)) & 1;
    y[e] = dl[e / 16] * static_cast<float>(ql - ((h ^ 1) << 2));
  }
}

// The 12-byte scale/min packing shared by Q4_K and Q5_K (get_scale_min_k4).
void k4_scale_min(const uint8_t* s, int sc[8], int mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 0x3F;
    mn[j] = s[j + 4] & 0x3F;
    sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 6) << 4);
    mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
  }
}

// Q4_K: half d, half dmin, 12 scale bytes, qs[128]; 8 groups of 32, group
// 2c uses the low nibbles of qs[32c..32c+31], group 2c+1 the high ones.
// Q5_K (kFifthBit): qh[32] before qs; bit g of qh[p] is the fifth bit of group g.
template <bool kFifthBit>
void dequant_q4_q5_k(const uint8_t* b, float* y) {
  const float d = load_half(b);
  const float dmin = load_half(b + 2);
  int sc[8], mn[8];
  k4_scale_min(b + 4, sc, mn);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = kFifthBit ? b + 48 : b + 16;
  for (int g = 0; g < 8; ++g) {
    const float dl = d * static_cast<float>(sc[g]);
    const float ml = dmin * static_cast<float>(mn[g]);
    const int shift = 4 * (g % 2);
    for (int p = 0; p < 32; ++p) {
      int q = (qs[(g / 2) * 32 + p] >> shift) & 0x0F;
      if (kFifthBit) q |= ((qh[p] >> g) & 1) << 4;
      y[g * 32 + p] = dl * static_cast<float>(q) - ml;
    }
  }
}

// Q6_K: ql[128], qh[64], int8 scales[16], half d. Per 128-element half h
// and 32-element quarter k: low 4 bits from ql[64h + 32(k%2) + p] (high
// nibble when k >= 2), top 2 bits from qh[32h + p] >> 2k.
void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = load_half(b + 208);
  float dl[16];
  for (int i = 0; i < 16; ++i) dl[i] = d * static_cast<float>(scales[i]);
  for (int e = 0; e < QK_K; ++e) {
    const int h = e / 128, k = (e % 128) / 32, p = e % 32;
    const int lo = (ql[64 * h + 32 * (k % 2) + p] >> (4 * (k / 2))) & 0x0F;
    const int hi = (qh[32 * h + p] >> (2 * k)) & 0x03;
    y[e] = dl[e / 16] * static_cast<float>((lo | (hi << 4)) - 32);
  }
}

// Q8_K: float d, int8 qs[256], int16 bsums[16] (sums only help dot products).
void dequant_q8_k(const uint8_t* b, float* y) {
  float d;
  std::memcpy(&d, b, 4);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 4);
  for (int j = 0; j < QK_K; ++j) y[j] = d * static_cast<float>(qs[j]);
}

using BlockFn = void (*)(const uint8_t*, float*);

BlockFn block_fn(TensorType type) {
  switch (type) {
    case TensorType::Q4_0: return dequant_q4_0;
    case TensorType::Q4_1: return dequant_q4_1;
    case TensorType::Q5_0: return dequant_q5_0;
    case TensorType::Q5_1: return dequant_q5_1;
    case TensorType::Q8_0: return dequant_q8_0;
    case TensorType::Q2_K: return dequant_q2_k;
    case TensorType::Q3_K: return dequant_q3_k;
    case TensorType::Q4_K: return dequant_q4_q5_k<false>;
    case TensorType::Q5_K: return dequant_q4_q5_k<true>;
    case TensorType::Q6_K: return dequant_q6_k;
    case TensorType::Q8_K: return dequant_q8_k;
    default: return nullptr;
  }
}

}  // namespace

BlockLayout block_layout(TensorType type) {
  switch (type) {
    case TensorType::F32: return {1, 4};
    case TensorType::F16: return {1, 2};
    case TensorType::BF16: return {1, 2};
    case TensorType::Q4_0: return {QK, 2 + 16};
    case TensorType::Q4_1: return {QK, 2 + 2 + 16};
    case TensorType::Q5_0: return {QK, 2 + 4 + 16};
    case TensorType::Q5_1: return {QK, 2 + 2 + 4 + 16};
    case TensorType::Q8_0: return {QK, 2 + 32};
    case TensorType::Q2_K: return {QK_K, 16 + 64 + 2 + 2};
    case TensorType::Q3_K: return {QK_K, 32 + 64 + 12 + 2};
    case TensorType::Q4_K: return {QK_K, 2 + 2 + 12 + 128};
    case TensorType::Q5_K: return {QK_K, 2 + 2 + 12 + 32 + 128};
    case TensorType::Q6_K: return {QK_K, 128 + 64 + 16 + 2};
    case TensorType::Q8_K: return {QK_K, 4 + 256 + 32};
    // Q8_1 is ggml's in-memory dot-product format; its on-disk size differs
    // between ggml (36 bytes) and gguf-py (40), so no file should carry it.
    case TensorType::Q8_1: break;
  }
  throw bad_input("tensor type " + std::string(type_name(type)) + " (" +
                  std::to_string(static_cast<uint32_t>(type)) + ") cannot be dequantized");
}

bool can_dequantize(TensorType type) {
  switch (type) {
    case TensorType::F32: case TensorType::F16: case TensorType::BF16:
      return true;
    default:
      return block_fn(type) != nullptr;
  }
}

void dequantize(TensorType type, const uint8_t* src, int64_t n_elements, float* dst) {
  const BlockLayout layout = block_layout(type);
  if (n_elements < 0 || n_elements % layout.elements != 0) {
    throw bad_input("cannot dequantize " + std::to_string(n_elements) + " elements of " +
                    std::string(type_name(type)) + ": not a whole number of " +
                    std::to_string(layout.elements) + "-element blocks");
  }
  switch (type) {
    case TensorType::F32: return dequant_f32(src, n_elements, dst);
    case TensorType::F16: return dequant_f16(src, n_elements, dst);
    case TensorType::BF16: return dequant_bf16(src, n_elements, dst);
    default: break;
  }
  const BlockFn fn = block_fn(type);
  const int64_t n_blocks = n_elements / layout.elements;
  for (int64_t i = 0; i < n_blocks; ++i) {
    fn(src + i * layout.bytes, dst + i * layout.elements);
  }
}

// Exact: every half is representable as a float. NaN payloads are kept
// (shifted into the top of the float mantissa), as numpy does.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (exp == 0x1F) return bits_to_float(sign | 0x7F800000u | (mant << 13));
  if (exp != 0) return bits_to_float(sign | ((exp + 127 - 15) << 23) | (mant << 13));
  if (mant == 0) return bits_to_float(sign);
  // Subnormal half: shift the leading 1 up to the implicit-bit position.
  uint32_t e = 127 - 15 + 1;
  while ((mant & 0x400) == 0) {
    mant <<= 1;
    --e;
  }
  return bits_to_float(sign | (e << 23) | ((mant & 0x3FF) << 13));
}

float bf16_to_float(uint16_t h) { return bits_to_float(static_cast<uint32_t>(h) << 16); }

}  // namespace lockstep::gguf

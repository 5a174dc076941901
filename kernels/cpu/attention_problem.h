// The attention problem the CPU kernel (kernels/cpu/attention.cpp) solves,
// shared by its two entry points: aten SDPA (sdpa.cpp, dense [B, H, T, D])
// and the engine's paged attention (paged_attention.cpp, queries of many
// sequences against a paged KV cache). Both run THE ORDER of attention.cpp
// row by row, so a query gets the same bits through either.
#pragma once

#include <cstdint>
#include <vector>

namespace lockstep::kernels::cpu::attention {

inline constexpr int64_t kMaxHeadDim = 256;

// The last dim of q/k/v is contiguous; other dims go by element strides.
// The output is contiguous, one row of Dv per query row.
struct Problem {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  int64_t B, Hq, Hkv, Tq, Tk, D, Dv;
  // Dense: strides of b, h, t. Paged: qs = {token, head, -}, ks/vs = {block, head, position in block}.
  int64_t qs[3], ks[3], vs[3];
  const bool* bool_mask = nullptr;
  const float* add_mask = nullptr;
  int64_t ms[4] = {0, 0, 0, 0};  // mask strides of b, h, i, j (0 = broadcast)
  bool causal = false;
  float scale = 1.0f;
  const void* zero_row = nullptr;  // D zeros of the input dtype, read for hidden keys
  // Paged (paged.tables != nullptr): rows are (token, head) with token-major
  // q [N, Hq, D]; token n belongs to sequence tok_seq[n] and sits at position
  // tok_pos[n], seeing keys max(0, pos + 1 - window) .. pos (window 0: all);
  // key position j of sequence b lives in block tables[b * table_stride +
  // j / block], at position j % block.
  struct Pages {
    const int32_t* tables = nullptr;
    int64_t table_stride = 0, block = 0, window = 0;
    const int64_t* tok_seq = nullptr;
    const int64_t* tok_pos = nullptr;
  } paged;
  // Optional (transpose_keys): keys widened to fp32 and laid out per block of
  // 16 keys as [d][key], so a block's scores are vector fmas over 16 keys at
  // once; kv head hk of sequence b starts at kt + kt_off[b * Hkv + hk]
  // (< 0: not transposed, the rows read k). The same products and the same
  // tree as reading k, so the same bits.
  const float* kt = nullptr;
  const int64_t* kt_off = nullptr;
  // bf16 only, beside kt: the values of those (sequence, kv head)s widened
  // to fp32, key j's row at vw + kt_off[b * Hkv + hk] + j * Dv (exact, so
  // the same bits as widening each value row where it is read).
  const float* vw = nullptr;
};

// Storage behind Problem::kt.
struct TransposedKeys {
  std::vector<float> data, values;
  std::vector<int64_t> off;
};

// Transposes the keys of every (sequence, kv head) that has at least 16 of
// the `rows` query rows when the head dim takes the fast path (D == Dv in {64, 128}
// on AVX2/AVX-512), and points p.kt / p.kt_off at `keys`; otherwise
// leaves p as it is. O(keys x D) once per call against O(rows x keys x D).
void transpose_keys(Problem& p, bool bf16, int64_t rows, TransposedKeys& keys);

// Floats of scratch run_rows needs per call (scores, widened keys, a zero row).
int64_t work_floats();
// Query rows [r0, r1) (dense: flattened (b, h, i); paged: (token, head)).
// `work` holds work_floats() floats, zero-initialised.
void run_rows(const Problem& p, bool bf16, int64_t r0, int64_t r1, float* work);
// Rows [0, rows) on the intra-op threads, one contiguous range each, cut so
// the ranges cost about the same (by the keys each row sees).
void run_rows_parallel(const Problem& p, bool bf16, int64_t rows);

}  // namespace lockstep::kernels::cpu::attention

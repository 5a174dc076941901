// The attention problem the CPU kernel (kernels/cpu/attention.cpp) solves,
// shared by its two entry points: aten SDPA (sdpa.cpp, dense [B, H, T, D])
// and the engine's paged attention (paged_attention.cpp, queries of many
// sequences against a paged KV cache). Both run THE ORDER of attention.cpp
// row by row, so a query gets the same bits through either.
#pragma once

#include <cstdint>

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
  // Paged (tables != nullptr): rows are (token, head) with token-major q
  // [N, Hq, D]; token n belongs to sequence tok_seq[n] and sits at position
  // tok_pos[n], seeing keys max(0, pos + 1 - window) .. pos (window 0: all);
  // key position j of sequence b lives in block tables[b * table_stride +
  // j / block], at position j % block.
  const int32_t* tables = nullptr;
  int64_t table_stride = 0, block = 0, window = 0;
  const int64_t* tok_seq = nullptr;
  const int64_t* tok_pos = nullptr;
};

// Floats of scratch run_rows needs per call (scores, widened keys, a zero row).
int64_t work_floats();
// Query rows [r0, r1) (dense: flattened (b, h, i); paged: (token, head)).
// `work` holds work_floats() floats, zero-initialised.
void run_rows(const Problem& p, bool bf16, int64_t r0, int64_t r1, float* work);

}  // namespace lockstep::kernels::cpu::attention

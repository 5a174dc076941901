// transpose_keys (attention_problem.h): the keys of a call widened to fp32
// and laid out [block of 16 keys][d][key in block] for TransposedDots
// (attention_blocks.h), once per call.
#include <algorithm>

#include <c10/util/BFloat16.h>

#include "kernels/cpu/attention_problem.h"
#include "kernels/cpu/lanes.h"

namespace lockstep::kernels::cpu::attention {

void transpose_keys(Problem& p, bool bf16, int64_t nrows, TransposedKeys& t) {
  if (lanes::active_isa() == lanes::Isa::baseline || p.D != p.Dv || (p.D != 64 && p.D != 128)) return;
  const int64_t G = p.Hq / p.Hkv, D = p.D, B = p.B, Hkv = p.Hkv;
  // per sequence: its query rows per kv head, and the keys they can see
  std::vector<int64_t> rows(static_cast<size_t>(B), 0), seen(static_cast<size_t>(B), 0);
  if (p.paged.tables != nullptr) {
    for (int64_t n = 0; n < nrows / p.Hq; ++n) {
      const int64_t b = p.paged.tok_seq[n];
      rows[b] += G;
      seen[b] = std::max(seen[b], p.paged.tok_pos[n] + 1);
    }
  } else {
    std::fill(rows.begin(), rows.end(), p.Tq * G);
    std::fill(seen.begin(), seen.end(), p.causal ? std::min(p.Tk, p.Tq) : p.Tk);
  }
  // Where key (or value) position j of sequence b starts, kv head 0, in a
  // tensor of strides s: through the block table when paged.
  const Problem::Pages& pg = p.paged;
  auto position = [&](const int64_t* s, int64_t b, int64_t j) {
    return pg.tables != nullptr ? pg.tables[b * pg.table_stride + j / pg.block] * s[0] + (j % pg.block) * s[2]
                                : b * s[0] + j * s[2];
  };
  t.off.assign(static_cast<size_t>(B * Hkv), -1);
  int64_t total = 0;
  for (int64_t b = 0; b < B; ++b)
    if (rows[b] >= lanes::kLanes && seen[b] > 0)
      for (int64_t hk = 0; hk < Hkv; ++hk) {
        t.off[b * Hkv + hk] = total;
        total += (seen[b] + lanes::kLanes - 1) / lanes::kLanes * lanes::kLanes * D;
      }
  if (total == 0) return;
  t.data.assign(static_cast<size_t>(total), 0.0f);  // zeros: the tail of a last block
  if (bf16) t.values.assign(static_cast<size_t>(total), 0.0f);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t hk = 0; hk < Hkv; ++hk) {
      if (t.off[b * Hkv + hk] < 0) continue;
      float* dst = t.data.data() + t.off[b * Hkv + hk];
      for (int64_t j = 0; j < seen[b]; ++j) {
        const int64_t at = position(p.ks, b, j);
        float* col = dst + j / lanes::kLanes * lanes::kLanes * D + j % lanes::kLanes;
        if (bf16) {
          const c10::BFloat16* src = static_cast<const c10::BFloat16*>(p.k) + at + hk * p.ks[1];
          for (int64_t d = 0; d < D; ++d) col[d * lanes::kLanes] = static_cast<float>(src[d]);
          const int64_t vat = position(p.vs, b, j);
          const c10::BFloat16* vsrc = static_cast<const c10::BFloat16*>(p.v) + vat + hk * p.vs[1];
          float* vdst = t.values.data() + t.off[b * Hkv + hk] + j * D;
          for (int64_t d = 0; d < D; ++d) vdst[d] = static_cast<float>(vsrc[d]);
        } else {
          const float* src = static_cast<const float*>(p.k) + at + hk * p.ks[1];
          for (int64_t d = 0; d < D; ++d) col[d * lanes::kLanes] = src[d];
        }
      }
    }
  p.kt = t.data.data();
  p.kt_off = t.off.data();
  if (bf16) p.vw = t.values.data();
}

}  // namespace lockstep::kernels::cpu::attention

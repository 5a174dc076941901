// lockstep's CUDA kernels. Each computes every output element with a
// reduction order that depends only on the static shape (K, the reduced
// length, head dim), never on M, the batch, the thread count or the ISA
// path taken. They know nothing about the dispatcher: kernels/register.cpp
// routes aten ops here when the mode is batch_invariant.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>
#include <utility>
#include <vector>

namespace lockstep::kernels::cuda {

#include "kernels/backend_ops.inc"   // mm ... sdpa

// The engine's attention over its paged KV cache (kernels/paged_attention.h):
// q [N, Hq, D] token-major (unit stride in D), caches [blocks, Hkv, block, D]
// / [.., Dv] contiguous; on q's device: tables int64 [B, width] (block ids),
// seqs int64 [B * 3] (offset in q, tokens, position of the first), tiles
// from paged_tiles(). Queries are causal at their positions (and see only
// the last `window` keys when window > 0); max_keys bounds every sequence's
// pos0 + length. Every row has the bits of sdpa() over its sequence's keys
// alone. Returns [N, Hq, Dv].
struct PagedTiles {
  at::Tensor map;   // int32 [T * 3] on the host: sequence, kv head, row tile
  int row_tile;     // query rows per block: 1, 2, 4 or 8
};
PagedTiles paged_tiles(const std::vector<int64_t>& lengths, int64_t group, int64_t kv_heads);
at::Tensor paged_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                           const at::Tensor& tables, const at::Tensor& seqs, const at::Tensor& tiles, int row_tile,
                           int64_t block, int64_t window, int64_t max_keys, double scale);

// Fused elementwise chains of the decoder (kernels/fused.h says what each
// reproduces; the checks of shapes and dtypes are done there). fp32, bf16,
// fp16; every tensor's last dim has unit stride.
// x [R, L] or [N, H, L]; delta (if defined) like x; weight [L] contiguous.
// Returns {norm, x + delta} (the sum undefined without delta), both contiguous.
std::pair<at::Tensor, at::Tensor> fused_rms_norm(const at::Tensor& x, const at::Tensor& delta,
                                                 const at::Tensor& weight, double eps);
// q [N, Hq, D], k [N, Hkv, D], v [N, Hkv, Dv], cos/sin [N, 1, D]; rows int64
// [N * Hkv]: the cache row of each (token, kv head). Returns the rotated q.
at::Tensor fused_rope_write_kv(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                               const at::Tensor& sin, const at::Tensor& rows, const at::Tensor& k_cache,
                               const at::Tensor& v_cache);
// gate, up [N, F]: silu(gate) * up.
at::Tensor fused_silu_gate(const at::Tensor& gate, const at::Tensor& up);

}  // namespace lockstep::kernels::cuda

// The engine's attention over the paged KV cache on CUDA: the kernels of
// attention.cu with paged addressing (attention_kernel.cuh), so every query
// row has the bits of aten SDPA (lockstep's, batch_invariant) over its own
// sequence's keys alone, whatever else is in the step. With
// LOCKSTEP_ATTENTION_MMA=1, bf16/fp16 with D == Dv in {64, 128} run the
// tensor-core kernel (attention_mma.cuh), which sdpa() then runs too.
#include <ATen/ops/empty.h>
#include <ATen/ops/tensor.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <vector>

#include "kernels/attention_operands.h"
#include "kernels/cuda/attention_kernel.cuh"
#include "kernels/cuda/attention_mma.h"
#include "kernels/cuda/ops.h"

namespace lockstep::kernels::cuda {

using namespace attention_detail;

PagedTiles paged_tiles(const std::vector<int64_t>& lengths, int64_t group, int64_t kv_heads) {
  TORCH_CHECK(group > 0 && kv_heads > 0, "paged_tiles: group and kv_heads must be > 0");
  int64_t most = 0;
  for (int64_t len : lengths) most = std::max(most, len * group);
  const int qt = row_tile_for(most);   // sdpa()'s rule, over the step's longest sequence
  std::vector<int32_t> map;
  for (size_t b = 0; b < lengths.size(); ++b) {
    const int64_t tiles = (lengths[b] * group + qt - 1) / qt;
    for (int64_t h = 0; h < kv_heads; ++h) {
      for (int64_t t = 0; t < tiles; ++t) {
        map.push_back(static_cast<int32_t>(b));
        map.push_back(static_cast<int32_t>(h));
        map.push_back(static_cast<int32_t>(t));
      }
    }
  }
  return {at::tensor(map, at::kInt), qt};
}

at::Tensor paged_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                           const at::Tensor& tables, const at::Tensor& seqs, const at::Tensor& tiles, int row_tile,
                           int64_t block, int64_t window, int64_t max_keys, double scale) {
  TORCH_CHECK(q.is_cuda() && q.dim() == 3 && q.stride(2) == 1, "paged_attention: q must be CUDA [N, Hq, D], unit stride in D");
  TORCH_CHECK(k_cache.dim() == 4 && v_cache.dim() == 4 && k_cache.is_contiguous() && v_cache.is_contiguous() &&
                  k_cache.size(0) == v_cache.size(0) && k_cache.size(1) == v_cache.size(1) &&
                  k_cache.size(2) == block && v_cache.size(2) == block && k_cache.size(3) == q.size(2),
              "paged_attention: caches ", k_cache.sizes(), " / ", v_cache.sizes(), " do not fit q ", q.sizes());
  TORCH_CHECK(k_cache.scalar_type() == q.scalar_type() && v_cache.scalar_type() == q.scalar_type(),
              "paged_attention: q and the caches must share a dtype");
  TORCH_CHECK(tables.scalar_type() == at::kLong && seqs.scalar_type() == at::kLong && tiles.scalar_type() == at::kInt &&
                  tables.is_contiguous() && seqs.is_contiguous() && tiles.is_contiguous() && tables.dim() == 2,
              "paged_attention: tables and seqs must be contiguous int64, tiles int32");
  TORCH_CHECK(row_tile == 1 || row_tile == 2 || row_tile == 4 || row_tile == 8, "paged_attention: bad row tile");
  const c10::cuda::CUDAGuard guard(q.device());
  const int64_t N = q.size(0), Hq = q.size(1), D = q.size(2), Hkv = k_cache.size(1), Dv = v_cache.size(3);
  TORCH_CHECK(Hq % Hkv == 0, "paged_attention: ", Hq, " query heads over ", Hkv, " kv heads");
  TORCH_CHECK(D <= kMaxHeadDim && Dv <= kMaxHeadDim, "paged_attention: head dim above ", kMaxHeadDim);
  at::Tensor out = at::empty({N, Hq, Dv}, q.options());
  const int64_t total_tiles = tiles.numel() / 3;
  if (total_tiles == 0 || max_keys <= 0) return out.zero_();

  Params p{};
  set_attention_operands(p, q, k_cache, v_cache);  // the caches' strides go unused: blocks are contiguous
  p.out = out.data_ptr();
  p.G = Hq / Hkv;
  p.mask_kind = kNoMask;
  p.causal = true;
  p.scale = static_cast<float>(scale);
  p.nsplit = (max_keys + kSplit - 1) / kSplit;
  TORCH_CHECK(p.nsplit <= 65535, "paged_attention: ", max_keys, " keys is more than supported");
  p.tables = tables.const_data_ptr<int64_t>();
  p.table_width = tables.size(1);
  p.block = block;
  p.window = window;
  p.seqs = seqs.const_data_ptr<int64_t>();
  p.tile_map = tiles.const_data_ptr<int32_t>();

  if (attention_mma_enabled() && attention_mma_supports(q.scalar_type(), D, Dv)) {
    mma_paged(p, q, k_cache, v_cache, total_tiles, row_tile, tables.size(0));
    return out;
  }
  const int64_t w = static_cast<int64_t>(16 / q.element_size());
  const bool vec = D % w == 0 && Dv % w == 0 && aligned16(k_cache) && aligned16(v_cache);
  launch<true>(p, total_tiles, q, row_tile, vec);
  return out;
}

}  // namespace lockstep::kernels::cuda

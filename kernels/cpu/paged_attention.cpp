// The engine's attention on the CPU: the queries of every sequence of a step
// against one paged KV cache, in one call. Each query row runs THE ORDER of
// kernels/cpu/attention.cpp with the keys its sequence's block table names,
// so its bits are those of aten SDPA over that sequence alone.
#include "kernels/attention_operands.h"
#include "kernels/cpu/attention_problem.h"
#include "kernels/cpu/ops.h"

namespace lockstep::kernels::cpu {

at::Tensor paged_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                           const at::Tensor& tables, const at::Tensor& tok_seq, const at::Tensor& tok_pos,
                           int64_t block, int64_t window, double scale) {
  TORCH_CHECK(q.device().is_cpu() && k_cache.device().is_cpu() && v_cache.device().is_cpu(),
              "lockstep paged_attention: expected CPU tensors");
  TORCH_CHECK(q.scalar_type() == at::kFloat || q.scalar_type() == at::kBFloat16,
              "lockstep paged_attention: supports float32 and bfloat16, got ", q.scalar_type());
  TORCH_CHECK(k_cache.scalar_type() == q.scalar_type() && v_cache.scalar_type() == q.scalar_type(),
              "lockstep paged_attention: q and the cache must share one dtype");
  TORCH_CHECK(q.dim() == 3 && k_cache.dim() == 4 && v_cache.dim() == 4,
              "lockstep paged_attention: q [N, Hq, D] and caches [blocks, Hkv, block, D], got ", q.sizes(), ", ",
              k_cache.sizes(), ", ", v_cache.sizes());
  const int64_t N = q.size(0), Hq = q.size(1), D = q.size(2), Hkv = k_cache.size(1), Dv = v_cache.size(3);
  TORCH_CHECK(k_cache.size(3) == D && v_cache.size(0) == k_cache.size(0) && v_cache.size(1) == Hkv &&
                  k_cache.size(2) == block && v_cache.size(2) == block,
              "lockstep paged_attention: caches disagree with each other or the block size ", block, ": ",
              k_cache.sizes(), ", ", v_cache.sizes());
  TORCH_CHECK(Hkv > 0 && Hq % Hkv == 0, "lockstep paged_attention: ", Hq, " query heads, ", Hkv, " kv heads");
  TORCH_CHECK(D <= attention::kMaxHeadDim && Dv <= attention::kMaxHeadDim,
              "lockstep paged_attention: head dims up to ", attention::kMaxHeadDim);
  TORCH_CHECK(q.stride(2) == 1 && k_cache.stride(3) == 1 && v_cache.stride(3) == 1,
              "lockstep paged_attention: the head dim must be contiguous");
  TORCH_CHECK(tables.scalar_type() == at::kInt && tables.dim() == 2 && tables.is_contiguous(),
              "lockstep paged_attention: tables must be contiguous int32 [sequences, blocks]");
  TORCH_CHECK(tok_seq.scalar_type() == at::kLong && tok_pos.scalar_type() == at::kLong && tok_seq.numel() == N &&
                  tok_pos.numel() == N && tok_seq.is_contiguous() && tok_pos.is_contiguous(),
              "lockstep paged_attention: tok_seq and tok_pos must be contiguous int64 [N]");
  TORCH_CHECK(block > 0 && window >= 0, "lockstep paged_attention: block must be > 0, window >= 0");

  const int64_t blocks = k_cache.size(0), seqs = tables.size(0), width = tables.size(1);
  const int32_t* tab = tables.const_data_ptr<int32_t>();
  const int64_t* seq = tok_seq.const_data_ptr<int64_t>();
  const int64_t* pos = tok_pos.const_data_ptr<int64_t>();
  for (int64_t n = 0; n < N; ++n) {
    TORCH_CHECK(seq[n] >= 0 && seq[n] < seqs, "lockstep paged_attention: token ", n, " names sequence ", seq[n]);
    TORCH_CHECK(pos[n] >= 0 && pos[n] / block < width, "lockstep paged_attention: token ", n, " at position ",
                pos[n], " is past its block table");
    for (int64_t j = 0; j <= pos[n] / block; ++j) {
      const int32_t b = tab[seq[n] * width + j];
      TORCH_CHECK(b >= 0 && b < blocks, "lockstep paged_attention: block ", b, " is outside the cache");
    }
  }

  attention::Problem p{};
  set_attention_operands(p, q, k_cache, v_cache);
  p.B = seqs;
  p.Tq = 1;
  p.scale = static_cast<float>(scale);
  p.paged = {tab, width, block, window, seq, pos};

  at::Tensor out = at::empty({N, Hq, Dv}, q.options());
  if (N == 0) return out;
  const at::Tensor zeros = at::zeros({D}, q.options());
  p.out = out.data_ptr();
  p.zero_row = zeros.const_data_ptr();
  const int64_t rows = N * Hq;
  const bool bf16 = q.scalar_type() == at::kBFloat16;
  attention::TransposedKeys keys;
  attention::transpose_keys(p, bf16, rows, keys);
  attention::run_rows_parallel(p, bf16, rows);
  return out;
}

}  // namespace lockstep::kernels::cpu

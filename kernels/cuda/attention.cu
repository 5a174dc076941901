// Batch-invariant scaled-dot-product attention (aten SDPA, dropout 0).
//
// THE ORDER, per query row i of query head h (kv head h / G), fp32 math:
//  * key j is hidden when j >= Tk, when causal and j > i (top-left aligned),
//    when a bool mask says false or an additive mask says -inf. Hidden keys
//    are skipped everywhere (never multiplied by 0: a KV cache may hold
//    garbage past its valid length).
//  * keys go in splits of S = kKvSplit at fixed boundaries 0, S, 2S, ..; for
//    each split with at least one visible key:
//      s_j = (sum_d q_d k_jd, one fma per d in increasing d, from +0) * scale
//            (+ the additive mask value)
//      m   = max of s_j over visible j
//      p_j = exp(s_j - m) for visible j, 0 for hidden
//      l   = sum of p_j over the S slots: slot j sits in warp j / 32; each
//            warp adds its 32 slots by an xor butterfly, then warps add in
//            warp order
//      acc_d = sum over g = 0, 1, .., G2-1 in order of part_{g,d}, where
//            part_{g,d} = fma(p_j, v_jd, .) over visible j = g, g+G2, .. in
//            increasing j, from +0; G2 = S / ceil(Dv / W) with W = 16 bytes
//            over the element size (a function of Dv and the dtype only)
//  * splits combine in increasing split order: M = max m_s; w_s = exp(m_s - M);
//    L = fma(w_s, l_s, L), O_d = fma(w_s, acc_sd, O_d) from +0; out = O_d / L.
//    A row that sees no key gives zeros.
// Nothing here depends on Tq, on the batch, on which heads or queries share a
// block (a block holds up to QT rows, each computed exactly as if alone), or
// on keys the row cannot see: prefill, chunked prefill and decode give the
// same bits for the same position. Decode fills the GPU by parallelising
// over (batch, kv head, split); the combine is a second, small kernel.
// With LOCKSTEP_ATTENTION_MMA=1, bf16/fp16 with D == Dv in {64, 128} run
// the tensor-core kernel instead (attention_mma.cuh: its own ORDER); the
// choice depends on the dtype and head dims only.
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cmath>

#include "kernels/attention_operands.h"
#include "kernels/cuda/attention_kernel.cuh"
#include "kernels/cuda/attention_mma.h"
#include "kernels/cuda/ops.h"

namespace lockstep::kernels::cuda {
namespace {

using namespace attention_detail;

// q/k/v as 4-d [B, H, T, D] views (leading dims flattened).
at::Tensor as_4d(const at::Tensor& t) {
  if (t.dim() == 4) return t;
  if (t.dim() == 3) return t.unsqueeze(0);
  if (t.dim() == 2) return t.unsqueeze(0).unsqueeze(0);
  return t.reshape({-1, t.size(-3), t.size(-2), t.size(-1)});
}

}  // namespace

at::Tensor sdpa(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                const std::optional<at::Tensor>& mask_in, bool is_causal, std::optional<double> scale,
                bool enable_gqa) {
  TORCH_CHECK(q_in.is_cuda() && k_in.is_cuda() && v_in.is_cuda(), "sdpa: q, k, v must be CUDA tensors");
  TORCH_CHECK(q_in.device() == k_in.device() && q_in.device() == v_in.device(), "sdpa: tensors on different devices");
  const at::ScalarType t = q_in.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kHalf || t == at::kBFloat16, "sdpa: unsupported dtype ", t);
  TORCH_CHECK(k_in.scalar_type() == t && v_in.scalar_type() == t, "sdpa: q, k, v dtypes differ");
  TORCH_CHECK(q_in.dim() >= 2 && k_in.dim() == q_in.dim() && v_in.dim() == q_in.dim(),
              "sdpa: q, k, v must have the same number of dims (>= 2)");
  const c10::cuda::CUDAGuard guard(q_in.device());

  auto unit_last = [](const at::Tensor& x) { return x.size(-1) <= 1 || x.stride(-1) == 1 ? x : x.contiguous(); };
  at::Tensor q = unit_last(as_4d(q_in)), k = unit_last(as_4d(k_in)), v = unit_last(as_4d(v_in));
  const int64_t B = q.size(0), Hq = q.size(1), Tq = q.size(2), D = q.size(3);
  TORCH_CHECK(k.size(0) == B || k.size(0) == 1, "sdpa: batch of k does not broadcast to q's");
  TORCH_CHECK(v.size(0) == k.size(0) && v.size(1) == k.size(1) && v.size(2) == k.size(2),
              "sdpa: k and v disagree in batch, heads or length");
  if (k.size(0) != B) {
    k = k.expand({B, k.size(1), k.size(2), k.size(3)});
    v = v.expand({B, v.size(1), v.size(2), v.size(3)});
  }
  const int64_t Hkv = k.size(1), Tk = k.size(2), Dv = v.size(3);
  TORCH_CHECK(k.size(3) == D, "sdpa: q and k head dims differ (", D, " vs ", k.size(3), ")");
  TORCH_CHECK(D <= kMaxHeadDim && Dv <= kMaxHeadDim, "sdpa: head dim above ", kMaxHeadDim, " not supported");
  int64_t G = 1;
  if (Hkv != Hq) {
    TORCH_CHECK(Hkv > 0 && Hq % Hkv == 0 && (enable_gqa || Hkv == 1), "sdpa: ", Hq, " query heads and ", Hkv,
                " kv heads", enable_gqa ? " (not a multiple)" : " need enable_gqa");
    G = Hq / Hkv;
  }

  std::vector<int64_t> out_sizes(q_in.sizes().begin(), q_in.sizes().end());
  out_sizes.back() = Dv;
  at::Tensor out = at::empty({B, Hq, Tq, Dv}, q.options());
  if (out.numel() == 0) return out.reshape(out_sizes);
  if (Tk == 0) return out.zero_().reshape(out_sizes);

  Params p{};
  set_attention_operands(p, q, k, v);
  p.out = out.data_ptr();
  p.G = G;
  p.Tq = Tq;
  p.Tk = Tk;
  p.causal = is_causal;
  p.scale = static_cast<float>(scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(D)));

  at::Tensor mask;  // keeps the converted mask alive through the launches
  p.mask_kind = kNoMask;
  if (mask_in.has_value() && mask_in->defined()) {
    TORCH_CHECK(mask_in->device() == q_in.device(), "sdpa: mask on ", mask_in->device());
    const bool is_bool = mask_in->scalar_type() == at::kBool;
    TORCH_CHECK(is_bool || at::isFloatingType(mask_in->scalar_type()), "sdpa: mask must be bool or floating");
    // Convert before broadcasting, so a broadcast mask is never materialised.
    mask = is_bool ? *mask_in : mask_in->to(at::kFloat);
    std::vector<int64_t> target(q_in.sizes().begin(), q_in.sizes().end());
    target.back() = Tk;
    mask = mask.expand(target);
    if (mask.dim() > 4) mask = mask.reshape({B, Hq, Tq, Tk});
    while (mask.dim() < 4) mask = mask.unsqueeze(0);
    p.mask_kind = is_bool ? kBoolMask : kAddMask;
    p.mask = mask.const_data_ptr();
    for (int i = 0; i < 4; ++i) p.ms[i] = mask.stride(i);
  }

  p.nsplit = (Tk + kSplit - 1) / kSplit;
  TORCH_CHECK(p.nsplit <= 65535, "sdpa: ", Tk, " keys is more than supported");
  p.rows_per_kv = Tq * G;
  if (attention_mma_enabled() && attention_mma_supports(t, D, Dv)) {
    mma_sdpa(p, q, k, v);
    return out.reshape(out_sizes);
  }
  const int qt = row_tile_for(p.rows_per_kv);
  p.tiles_per_kv = (p.rows_per_kv + qt - 1) / qt;
  const int64_t total_tiles = B * Hkv * p.tiles_per_kv;

  const int64_t w = static_cast<int64_t>(16 / q.element_size());
  const bool vec = D % w == 0 && Dv % w == 0 && aligned16(k) && aligned16(v);
  launch<false>(p, total_tiles, q, qt, vec);
  return out.reshape(out_sizes);
}

}  // namespace lockstep::kernels::cuda

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
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/cuda/ops.h"
#include "kernels/splits.h"

namespace lockstep::kernels::cuda {
namespace {

constexpr int kSplit = static_cast<int>(kKvSplit);
constexpr int kThreads = kSplit;  // one thread per key slot in the score phase
constexpr int kWarps = kThreads / 32;
constexpr int kMaxHeadDim = 256;
constexpr int kCombineThreads = 128;
constexpr int64_t kWorkspaceFloats = int64_t{1} << 25;  // 128 MiB of split results per launch
static_assert(kSplit % 32 == 0 && kSplit <= 1024, "one block of kKvSplit threads per split");

template <typename T>
struct TypeTag {
  using type = T;
};

enum MaskKind : int { kNoMask = 0, kBoolMask = 1, kAddMask = 2 };

struct Params {
  const void* q;
  const void* k;
  const void* v;
  void* out;     // [B, Hq, Tq, Dv] contiguous
  float* ws;     // [tiles of this launch][QT][nsplit][Dv + 2]: m, l, acc
  int64_t qs[3], ks[3], vs[3];  // strides of batch, head, position (elements)
  int64_t Hq, Hkv, G, Tq, Tk, D, Dv;
  int mask_kind;
  const void* mask;
  int64_t ms[4];  // mask strides of batch, head, query, key (0 = broadcast)
  bool causal;
  float scale;
  int64_t rows_per_kv;   // Tq * G rows share one kv head: row = query * G + head in group
  int64_t tiles_per_kv;  // ceil(rows_per_kv / QT)
  int64_t nsplit;
  int64_t tile0;  // first tile of this launch
};

template <typename T>
constexpr int chunk_width() {
  return static_cast<int>(16 / sizeof(T));
}

// Chunk c of a row: W consecutive elements from c * W. Fetching and
// converting are separate so that a batch of fetches is in flight before the
// first use; kVec fetches 16 raw bytes, otherwise W floats (0 past n).
template <typename T, bool kVec>
struct Chunk {
  float v[chunk_width<T>()];
};
template <typename T>
struct Chunk<T, true> {
  uint4 raw;
};

template <typename T, bool kVec>
__device__ __forceinline__ Chunk<T, kVec> fetch(const T* __restrict__ row, int64_t c, int64_t n) {
  constexpr int W = chunk_width<T>();
  Chunk<T, kVec> ch;
  if constexpr (kVec) {
    ch.raw = __ldg(reinterpret_cast<const uint4*>(row + c * W));
  } else {
#pragma unroll
    for (int e = 0; e < W; ++e) ch.v[e] = c * W + e < n ? static_cast<float>(row[c * W + e]) : 0.0f;
  }
  return ch;
}

__device__ __forceinline__ void unpack_word(uint32_t w, float* out, const c10::BFloat16*) {
  out[0] = __uint_as_float(w << 16);  // bf16 -> fp32 is exact: the high half of the word
  out[1] = __uint_as_float(w & 0xffff0000u);
}
__device__ __forceinline__ void unpack_word(uint32_t w, float* out, const c10::Half*) {
  out[0] = __half2float(__ushort_as_half(static_cast<unsigned short>(w & 0xffffu)));
  out[1] = __half2float(__ushort_as_half(static_cast<unsigned short>(w >> 16)));
}
__device__ __forceinline__ void unpack_word(uint32_t w, float* out, const float*) { out[0] = __uint_as_float(w); }

template <typename T, bool kVec>
__device__ __forceinline__ void unpack(const Chunk<T, kVec>& ch, float* out) {
  constexpr int W = chunk_width<T>();
  if constexpr (kVec) {
    constexpr int per_word = W / 4;
    const T* tag = nullptr;
    unpack_word(ch.raw.x, out, tag);
    unpack_word(ch.raw.y, out + per_word, tag);
    unpack_word(ch.raw.z, out + 2 * per_word, tag);
    unpack_word(ch.raw.w, out + 3 * per_word, tag);
  } else {
#pragma unroll
    for (int e = 0; e < W; ++e) out[e] = ch.v[e];
  }
}

struct TileRows {
  int64_t b, hk;
};

__device__ __forceinline__ TileRows tile_rows(const Params& p, int64_t tile) {
  const int64_t bh = tile / p.tiles_per_kv;
  return {bh / p.Hkv, bh % p.Hkv};
}

template <typename T, int QT, bool kVec>
__global__ void __launch_bounds__(kThreads) attention_split(Params p) {
  constexpr int W = chunk_width<T>();
  // Loads in flight per thread: deeper for the few-row (decode) shapes,
  // where registers are plentiful and memory latency is the whole story.
  constexpr int kUnroll = QT <= 2 ? 8 : 4;
  __shared__ float q_s[QT][kMaxHeadDim];
  __shared__ float p_s[QT][kSplit];
  __shared__ float red_s[kWarps][QT];
  __shared__ float part_s[kThreads * W];
  __shared__ int64_t row_hq[QT], row_qi[QT];
  __shared__ int row_valid[QT];

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32;
  const int64_t tile = p.tile0 + blockIdx.x;
  const int64_t split = blockIdx.y;
  const int64_t key0 = split * kSplit;
  const TileRows tr = tile_rows(p, tile);
  const int64_t tt = tile % p.tiles_per_kv;
  float* ws_tile = p.ws + static_cast<int64_t>(blockIdx.x) * QT * p.nsplit * (p.Dv + 2);

  if (tid < QT) {
    const int64_t prow = tt * QT + tid;
    row_valid[tid] = prow < p.rows_per_kv;
    row_qi[tid] = prow / p.G;
    row_hq[tid] = tr.hk * p.G + prow % p.G;
  }
  __syncthreads();

  // A causal split that starts past every row's query sees nothing.
  int64_t last_query = -1;
#pragma unroll
  for (int r = 0; r < QT; ++r) {
    if (row_valid[r] && row_qi[r] > last_query) last_query = row_qi[r];
  }
  if (p.causal && key0 > last_query) {
    if (tid < QT && row_valid[tid]) {
      float* w = ws_tile + (static_cast<int64_t>(tid) * p.nsplit + split) * (p.Dv + 2);
      w[0] = -INFINITY;
      w[1] = 0.0f;
    }
    return;
  }

  const T* q = static_cast<const T*>(p.q);
  for (int64_t idx = tid; idx < QT * p.D; idx += kThreads) {
    const int r = static_cast<int>(idx / p.D);
    const int64_t d = idx % p.D;
    q_s[r][d] = row_valid[r] ? static_cast<float>(
                                   q[tr.b * p.qs[0] + row_hq[r] * p.qs[1] + row_qi[r] * p.qs[2] + d])
                             : 0.0f;
  }
  __syncthreads();

  // Scores: thread j owns key slot j.
  const int64_t kpos = key0 + tid;
  const bool in_range = kpos < p.Tk;
  float s[QT];
#pragma unroll
  for (int r = 0; r < QT; ++r) s[r] = 0.0f;
  if (in_range) {
    const T* krow = static_cast<const T*>(p.k) + tr.b * p.ks[0] + tr.hk * p.ks[1] + kpos * p.ks[2];
    const int64_t chunks = (p.D + W - 1) / W;
    for (int64_t c0 = 0; c0 < chunks; c0 += kUnroll) {
      Chunk<T, kVec> kc[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (c0 + u < chunks) kc[u] = fetch<T, kVec>(krow, c0 + u, p.D);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (c0 + u >= chunks) break;
        float kv[W];
        unpack<T, kVec>(kc[u], kv);
#pragma unroll
        for (int e = 0; e < W; ++e) {
          const int64_t d = (c0 + u) * W + e;
          if (kVec || d < p.D) {  // kVec: D is a multiple of W
#pragma unroll
            for (int r = 0; r < QT; ++r) s[r] = fmaf(q_s[r][d], kv[e], s[r]);
          }
        }
      }
    }
  }
  float score[QT];
#pragma unroll
  for (int r = 0; r < QT; ++r) {
    bool visible = in_range && row_valid[r] && (!p.causal || kpos <= row_qi[r]);
    float sc = s[r] * p.scale;
    if (visible && p.mask_kind != kNoMask) {
      const int64_t at = tr.b * p.ms[0] + row_hq[r] * p.ms[1] + row_qi[r] * p.ms[2] + kpos * p.ms[3];
      if (p.mask_kind == kBoolMask) {
        visible = static_cast<const bool*>(p.mask)[at];
      } else {
        const float add = static_cast<const float*>(p.mask)[at];
        if (add == -INFINITY) {
          visible = false;
        } else {
          sc = sc + add;
        }
      }
    }
    score[r] = visible ? sc : -INFINITY;
  }

  // m: block maximum per row (exact in any order).
  float m[QT];
#pragma unroll
  for (int r = 0; r < QT; ++r) {
    float v = score[r];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    m[r] = v;
  }
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < QT; ++r) red_s[warp][r] = m[r];
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < QT; ++r) {
    float v = red_s[0][r];
    for (int w = 1; w < kWarps; ++w) v = fmaxf(v, red_s[w][r]);
    m[r] = v;
  }
  __syncthreads();

  // p and l: the fixed tree over slots (warp butterfly, then warps in order).
  float l[QT];
#pragma unroll
  for (int r = 0; r < QT; ++r) {
    const bool visible = score[r] != -INFINITY;
    const float pj = visible ? expf(score[r] - m[r]) : 0.0f;
    p_s[r][tid] = visible ? pj : -INFINITY;  // -inf marks a hidden key
    float v = pj;
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v = v + __shfl_xor_sync(0xffffffffu, v, off);
    l[r] = v;
  }
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < QT; ++r) red_s[warp][r] = l[r];
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < QT; ++r) {
    float v = red_s[0][r];
    for (int w = 1; w < kWarps; ++w) v = v + red_s[w][r];
    l[r] = v;
  }

  // acc: thread (g, c) runs keys g, g + G2, .. over value chunk c.
  const int chunks_v = static_cast<int>((p.Dv + W - 1) / W);
  const int groups = kThreads / chunks_v;
  const int g = tid / chunks_v, c = tid % chunks_v;
  float acc[QT][W];
#pragma unroll
  for (int r = 0; r < QT; ++r) {
#pragma unroll
    for (int e = 0; e < W; ++e) acc[r][e] = 0.0f;
  }
  if (g < groups) {
    const T* vbase = static_cast<const T*>(p.v) + tr.b * p.vs[0] + tr.hk * p.vs[1];
    const int limit = static_cast<int>(std::min<int64_t>(kSplit, p.Tk - key0));
    for (int j0 = g; j0 < limit; j0 += groups * kUnroll) {
      Chunk<T, kVec> vc[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int j = j0 + u * groups;
        if (j < limit) vc[u] = fetch<T, kVec>(vbase + (key0 + j) * p.vs[2], c, p.Dv);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int j = j0 + u * groups;  // increasing j: the order of part_{g,d}
        if (j >= limit) break;
        float vv[W];
        unpack<T, kVec>(vc[u], vv);
#pragma unroll
        for (int r = 0; r < QT; ++r) {
          const float pr = p_s[r][j];
          if (pr != -INFINITY) {
#pragma unroll
            for (int e = 0; e < W; ++e) acc[r][e] = fmaf(pr, vv[e], acc[r][e]);
          }
        }
      }
    }
  }

  // Per row: partials of the groups in group order, then the split's result.
  const int dv_pad = chunks_v * W;
#pragma unroll
  for (int r = 0; r < QT; ++r) {
    if (!row_valid[r]) continue;  // uniform across the block
    if (g < groups) {
#pragma unroll
      for (int e = 0; e < W; ++e) part_s[g * dv_pad + c * W + e] = acc[r][e];
    }
    __syncthreads();
    float* w = ws_tile + (static_cast<int64_t>(r) * p.nsplit + split) * (p.Dv + 2);
    for (int64_t d = tid; d < p.Dv; d += kThreads) {
      float sum = part_s[d];
      for (int gg = 1; gg < groups; ++gg) sum = sum + part_s[gg * dv_pad + d];
      w[2 + d] = sum;
    }
    if (tid == 0) {
      w[0] = m[r];
      w[1] = l[r];
    }
    __syncthreads();
  }
}

template <typename T>
__global__ void __launch_bounds__(kCombineThreads) attention_combine(Params p, int qt) {
  const int64_t local = blockIdx.x;  // tile-local row: (tile - tile0) * qt + r
  const int64_t tile = p.tile0 + local / qt;
  const int r = static_cast<int>(local % qt);
  const int64_t prow = (tile % p.tiles_per_kv) * qt + r;
  if (prow >= p.rows_per_kv) return;
  const TileRows tr = tile_rows(p, tile);
  const int64_t qi = prow / p.G, hq = tr.hk * p.G + prow % p.G;
  const float* ws = p.ws + local * p.nsplit * (p.Dv + 2);
  T* out = static_cast<T*>(p.out) + ((tr.b * p.Hq + hq) * p.Tq + qi) * p.Dv;

  float big = -INFINITY;
  for (int64_t s = 0; s < p.nsplit; ++s) big = fmaxf(big, ws[s * (p.Dv + 2)]);
  for (int64_t d = threadIdx.x; d < p.Dv; d += kCombineThreads) {
    if (big == -INFINITY) {
      out[d] = static_cast<T>(0.0f);
      continue;
    }
    float total = 0.0f, o = 0.0f;
    for (int64_t s = 0; s < p.nsplit; ++s) {
      const float* w = ws + s * (p.Dv + 2);
      if (w[0] == -INFINITY) continue;  // split with no visible key
      const float scale = expf(w[0] - big);
      total = fmaf(scale, w[1], total);
      o = fmaf(scale, w[2 + d], o);
    }
    out[d] = static_cast<T>(o / total);
  }
}

// q/k/v as 4-d [B, H, T, D] views (leading dims flattened).
at::Tensor as_4d(const at::Tensor& t) {
  if (t.dim() == 4) return t;
  if (t.dim() == 3) return t.unsqueeze(0);
  if (t.dim() == 2) return t.unsqueeze(0).unsqueeze(0);
  return t.reshape({-1, t.size(-3), t.size(-2), t.size(-1)});
}

template <typename T, int QT, bool kVec>
void launch_all(Params p, int64_t total_tiles, const at::Tensor& ws_options_like) {
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t per_tile = QT * p.nsplit * (p.Dv + 2);
  const int64_t chunk_tiles = std::max<int64_t>(1, std::min(total_tiles, kWorkspaceFloats / per_tile));
  at::Tensor ws = at::empty({chunk_tiles * per_tile}, ws_options_like.options().dtype(at::kFloat));
  p.ws = ws.data_ptr<float>();
  for (int64_t tile0 = 0; tile0 < total_tiles; tile0 += chunk_tiles) {
    const int64_t tiles = std::min(chunk_tiles, total_tiles - tile0);
    p.tile0 = tile0;
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(p.nsplit));
    attention_split<T, QT, kVec><<<grid, kThreads, 0, stream>>>(p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    attention_combine<T><<<static_cast<unsigned>(tiles * QT), kCombineThreads, 0, stream>>>(p, QT);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

bool aligned16(const at::Tensor& t) {
  const int64_t e = static_cast<int64_t>(t.element_size());
  if (reinterpret_cast<uint64_t>(t.const_data_ptr()) % 16 != 0) return false;
  for (int64_t d = 0; d < t.dim() - 1; ++d) {
    if (t.size(d) > 1 && (t.stride(d) * e) % 16 != 0) return false;
  }
  return true;
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
  p.q = q.const_data_ptr();
  p.k = k.const_data_ptr();
  p.v = v.const_data_ptr();
  p.out = out.data_ptr();
  for (int i = 0; i < 3; ++i) {
    p.qs[i] = q.stride(i);
    p.ks[i] = k.stride(i);
    p.vs[i] = v.stride(i);
  }
  p.Hq = Hq;
  p.Hkv = Hkv;
  p.G = G;
  p.Tq = Tq;
  p.Tk = Tk;
  p.D = D;
  p.Dv = Dv;
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
  const int qt = p.rows_per_kv >= 8 ? 8 : p.rows_per_kv >= 4 ? 4 : p.rows_per_kv >= 2 ? 2 : 1;
  p.tiles_per_kv = (p.rows_per_kv + qt - 1) / qt;
  const int64_t total_tiles = B * Hkv * p.tiles_per_kv;

  const int64_t w = static_cast<int64_t>(16 / q.element_size());
  const bool vec = D % w == 0 && Dv % w == 0 && aligned16(k) && aligned16(v);
  auto run = [&](auto type_tag) {
    using scalar_t = typename decltype(type_tag)::type;
    auto go = [&](auto qt_const, auto vec_const) {
      launch_all<scalar_t, decltype(qt_const)::value, decltype(vec_const)::value>(p, total_tiles, q);
    };
    auto with_vec = [&](auto qt_const) {
      if (vec) {
        go(qt_const, std::true_type{});
      } else {
        go(qt_const, std::false_type{});
      }
    };
    switch (qt) {
      case 8: with_vec(std::integral_constant<int, 8>{}); break;
      case 4: with_vec(std::integral_constant<int, 4>{}); break;
      case 2: with_vec(std::integral_constant<int, 2>{}); break;
      default: with_vec(std::integral_constant<int, 1>{}); break;
    }
  };
  switch (t) {
    case at::kFloat: run(TypeTag<float>{}); break;
    case at::kHalf: run(TypeTag<at::Half>{}); break;
    default: run(TypeTag<at::BFloat16>{}); break;
  }
  return out.reshape(out_sizes);
}

}  // namespace lockstep::kernels::cuda

// The split and combine kernels of lockstep's CUDA attention, shared by aten
// SDPA over dense [B, H, T, D] tensors (attention.cu) and the engine's paged
// KV cache (paged_attention.cu). THE ORDER is written once, in attention.cu's
// header; kPaged changes only where a row's query, keys, values and output
// live and which keys it sees (causal at its position, optional window), so
// a query computed over the paged cache has the bits of the same query over
// its sequence's keys alone through aten SDPA.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/splits.h"

namespace lockstep::kernels::cuda::attention_detail {

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
  // Paged (kPaged): q [N, Hq, D] token-major (qs[0] token, qs[1] head), out
  // [N, Hq, Dv] contiguous; key position j of sequence b in row
  // (tables[b * table_width + j / block] * Hkv + hk) * block + j % block of a
  // cache seen as [rows, D] / [rows, Dv]; seqs[3b ..]: offset in q, tokens,
  // position of the first; tile_map[3t ..]: sequence, kv head and row tile of tile t.
  const int64_t* tables;
  int64_t table_width, block, window;
  const int64_t* seqs;
  const int32_t* tile_map;
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

// What a tile's rows share: batch entry (dense) or sequence (paged), kv
// head, row tile, rows per kv head, keys (Tk), the position of query 0 and
// (paged) its token in q.
struct TileRows {
  int64_t b, hk, tt, rows, tk, pos0, q0;
};

template <bool kPaged>
__device__ __forceinline__ TileRows tile_rows(const Params& p, int64_t tile) {
  if constexpr (kPaged) {
    const int32_t* m = p.tile_map + 3 * tile;
    const int64_t b = m[0];
    const int64_t* s = p.seqs + 3 * b;
    return {b, m[1], m[2], s[1] * p.G, s[2] + s[1], s[2], s[0]};
  } else {
    const int64_t bh = tile / p.tiles_per_kv;
    return {bh / p.Hkv, bh % p.Hkv, tile % p.tiles_per_kv, p.rows_per_kv, p.Tk, 0, 0};
  }
}

// Row (element offset) of key or value position j of a tile's sequence.
template <bool kPaged>
__device__ __forceinline__ int64_t kv_offset(const Params& p, const TileRows& tr, int64_t j, const int64_t* strides,
                                             int64_t width) {
  if constexpr (kPaged) {
    const int64_t blk = p.tables[tr.b * p.table_width + j / p.block];
    return ((blk * p.Hkv + tr.hk) * p.block + j % p.block) * width;
  } else {
    return tr.b * strides[0] + tr.hk * strides[1] + j * strides[2];
  }
}

template <typename T, int QT, bool kVec, bool kPaged>
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
  const TileRows tr = tile_rows<kPaged>(p, tile);
  const int64_t tt = tr.tt;
  float* ws_tile = p.ws + static_cast<int64_t>(blockIdx.x) * QT * p.nsplit * (p.Dv + 2);

  if (tid < QT) {
    const int64_t prow = tt * QT + tid;
    row_valid[tid] = prow < tr.rows;
    row_qi[tid] = prow / p.G;
    row_hq[tid] = tr.hk * p.G + prow % p.G;
  }
  __syncthreads();

  // A causal split that starts past every row's query sees nothing (paged:
  // always causal, and the split may lie past this sequence's keys).
  int64_t last_query = -1;
#pragma unroll
  for (int r = 0; r < QT; ++r) {
    if (row_valid[r] && row_qi[r] > last_query) last_query = row_qi[r];
  }
  if ((kPaged || p.causal) && key0 > tr.pos0 + last_query) {
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
    const int64_t at = kPaged ? (tr.q0 + row_qi[r]) * p.qs[0] + row_hq[r] * p.qs[1] + d
                              : tr.b * p.qs[0] + row_hq[r] * p.qs[1] + row_qi[r] * p.qs[2] + d;
    q_s[r][d] = row_valid[r] ? static_cast<float>(q[at]) : 0.0f;
  }
  __syncthreads();

  // Scores: thread j owns key slot j.
  const int64_t kpos = key0 + tid;
  const bool in_range = kpos < tr.tk;
  float s[QT];
#pragma unroll
  for (int r = 0; r < QT; ++r) s[r] = 0.0f;
  if (in_range) {
    const T* krow = static_cast<const T*>(p.k) + kv_offset<kPaged>(p, tr, kpos, p.ks, p.D);
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
    bool visible = in_range && row_valid[r];
    if constexpr (kPaged) {
      const int64_t pos = tr.pos0 + row_qi[r];
      visible = visible && kpos <= pos && (p.window == 0 || pos - kpos < p.window);
    } else {
      visible = visible && (!p.causal || kpos <= row_qi[r]);
    }
    float sc = s[r] * p.scale;
    if (!kPaged && visible && p.mask_kind != kNoMask) {
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
    const T* vbase = static_cast<const T*>(p.v);
    const int limit = static_cast<int>(std::min<int64_t>(kSplit, tr.tk - key0));
    for (int j0 = g; j0 < limit; j0 += groups * kUnroll) {
      Chunk<T, kVec> vc[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int j = j0 + u * groups;
        if (j < limit) vc[u] = fetch<T, kVec>(vbase + kv_offset<kPaged>(p, tr, key0 + j, p.vs, p.Dv), c, p.Dv);
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

template <typename T, bool kPaged>
__global__ void __launch_bounds__(kCombineThreads) attention_combine(Params p, int qt) {
  const int64_t local = blockIdx.x;  // tile-local row: (tile - tile0) * qt + r
  const int64_t tile = p.tile0 + local / qt;
  const int r = static_cast<int>(local % qt);
  const TileRows tr = tile_rows<kPaged>(p, tile);
  const int64_t prow = tr.tt * qt + r;
  if (prow >= tr.rows) return;
  const int64_t qi = prow / p.G, hq = tr.hk * p.G + prow % p.G;
  const float* ws = p.ws + local * p.nsplit * (p.Dv + 2);
  T* out = static_cast<T*>(p.out) +
           (kPaged ? (tr.q0 + qi) * p.Hq + hq : (tr.b * p.Hq + hq) * p.Tq + qi) * p.Dv;

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

template <typename T, int QT, bool kVec, bool kPaged>
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
    attention_split<T, QT, kVec, kPaged><<<grid, kThreads, 0, stream>>>(p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    attention_combine<T, kPaged><<<static_cast<unsigned>(tiles * QT), kCombineThreads, 0, stream>>>(p, QT);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

inline bool aligned16(const at::Tensor& t) {
  const int64_t e = static_cast<int64_t>(t.element_size());
  if (reinterpret_cast<uint64_t>(t.const_data_ptr()) % 16 != 0) return false;
  for (int64_t d = 0; d < t.dim() - 1; ++d) {
    if (t.size(d) > 1 && (t.stride(d) * e) % 16 != 0) return false;
  }
  return true;
}

// Query rows per block for a launch whose kv heads carry at most `rows` rows
// each. It changes which rows share a block, never a row's bits.
inline int row_tile_for(int64_t rows) { return rows >= 8 ? 8 : rows >= 4 ? 4 : rows >= 2 ? 2 : 1; }

// Launches the split and combine kernels for q's dtype (fp32, fp16, bf16),
// row tile qt (1, 2, 4 or 8) and 16-byte loads when vec.
template <bool kPaged>
void launch(const Params& p, int64_t total_tiles, const at::Tensor& q, int qt, bool vec) {
  auto run = [&](auto type_tag) {
    using scalar_t = typename decltype(type_tag)::type;
    auto go = [&](auto qt_const, auto vec_const) {
      launch_all<scalar_t, decltype(qt_const)::value, decltype(vec_const)::value, kPaged>(p, total_tiles, q);
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
  switch (q.scalar_type()) {
    case at::kFloat: run(TypeTag<float>{}); break;
    case at::kHalf: run(TypeTag<at::Half>{}); break;
    case at::kBFloat16: run(TypeTag<at::BFloat16>{}); break;
    default: TORCH_CHECK(false, "attention: unsupported dtype ", q.scalar_type());
  }
}

}  // namespace lockstep::kernels::cuda::attention_detail

// Batch-invariant scaled-dot-product attention (aten SDPA, dropout 0).
//
// THE ORDER, per query row i of head h (kv head h / (Hq / Hkv)):
//  * A key j is hidden when causality (j > i), a false bool mask entry or an
//    additive mask entry of -inf hides it. Hidden keys are skipped: they
//    add nothing anywhere, which is why a row's bits do not depend on Tq, on
//    keys past the ones it sees, or on the padding of a ragged batch.
//  * Keys go in splits of kKvSplit (splits.h) at fixed boundaries 0, S, 2S..
//    For a split with at least one visible key:
//      s_j   = dot(q, k_j) * scale (+ additive mask)  dot: 16 lanes over D,
//              fma per term, the tree of lanes.h
//      m     = max of s_j over the visible keys
//      p_j   = exp16(s_j - m), 0 for hidden keys
//      l     = sum of p_j over the split in 16 lanes (lane = j mod 16)
//      acc_d = fma(p_j, v_jd, acc_d) over visible j in increasing j, from +0
//  * Splits combine in increasing order: the first one sets (M, L, ACC);
//    each next one (m, l, acc): M' = max(M, m), a = exp(M - M'),
//    b = exp(m - M'), L = L*a + l*b, ACC = ACC*a + acc*b (separate
//    roundings, no fma).
//  * out = ACC / L; a row that sees no key gives zeros (stock CPU SDPA
//    gives zeros too).
// The order depends on D, Dv and the key positions only, never on the batch,
// Tq, Tk beyond the row's keys, threads or the ISA.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <ATen/Parallel.h>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/ops.h"
#include "kernels/splits.h"

namespace lockstep::kernels::cpu {
namespace {

using BF16 = c10::BFloat16;
using lanes::F16;
using lanes::kLanes;

constexpr int64_t kSplit = kKvSplit;
static_assert(kSplit % kLanes == 0, "splits must start on a lane boundary");

// One SDPA problem in canonical [B, H, T, D] form; the last dim of q/k/v is
// contiguous, other dims go by element strides (a KV cache slice works
// without a copy). The output is contiguous [B, Hq, Tq, Dv].
struct Problem {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  int64_t B, Hq, Hkv, Tq, Tk, D, Dv;
  int64_t qs[3], ks[3], vs[3];  // strides of b, h, t
  const bool* bool_mask = nullptr;
  const float* add_mask = nullptr;
  int64_t ms[4] = {0, 0, 0, 0};  // mask strides of b, h, i, j (0 = broadcast)
  bool causal = false;
  float scale = 1.0f;
  const void* zero_row = nullptr;  // D zeros of the input dtype, read for hidden keys
};

template <class T>
LOCKSTEP_LANES_INLINE F16 load_chunk(const T* row, int64_t at, int64_t len) {
  return at + kLanes <= len ? lanes::load16(row + at) : lanes::load_tail(row + at, len - at, 0.0f);
}

// tree_sum of 16 vectors at once: out[t] = tree_sum(acc[t]). Each step adds
// lane l and lane l + w of every vector, exactly as lanes::tree_sum, with
// shuffles gathering the two halves of two vectors into one vector.
LOCKSTEP_LANES_INLINE F16 tree_sum16(const F16* acc) {
  F16 s8[8], s4[4], s2[2];
  for (int u = 0; u < 8; ++u) {
    const F16 a = acc[2 * u], b = acc[2 * u + 1];
    s8[u] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
            __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  }
  for (int u = 0; u < 4; ++u) {
    const F16 a = s8[2 * u], b = s8[2 * u + 1];
    s4[u] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
            __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  }
  for (int u = 0; u < 2; ++u) {
    const F16 a = s4[2 * u], b = s4[2 * u + 1];
    s2[u] = __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
            __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  }
  return __builtin_shufflevector(s2[0], s2[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         __builtin_shufflevector(s2[0], s2[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// Head dims up to 16 chunks of 16 (256) keep their accumulators on the stack.
constexpr int64_t kMaxChunks = 16;

// dot(q, k_t) for 16 keys at once, in THE ORDER over D: lane l of dots[t]
// accumulates fma(q[d], k_t[d], .) for d = l (mod 16) in increasing d, then
// the lane tree. kNd = D / 16 when it is a compile-time constant (D = 64,
// 128), else 0 (any D; a tail chunk is zero padded, adding fma(0, 0, .)).
// One key at a time, q held in registers: one live key pointer.
template <class T, int kNd>
LOCKSTEP_LANES_INLINE F16 dots16(const F16* qc, const T* const* keys, int64_t D) {
  const int64_t nd = kNd > 0 ? kNd : (D + kLanes - 1) / kLanes;
  F16 dots[kLanes];
#pragma GCC unroll 16
  for (int t = 0; t < kLanes; ++t) {
    const T* k = keys[t];
    F16 acc = lanes::splat(0.0f);
#pragma GCC unroll 16
    for (int64_t c = 0; c < nd; ++c)
      acc = lanes::fma16(qc[c], kNd > 0 ? lanes::load16(k + c * kLanes) : load_chunk(k, c * kLanes, D), acc);
    dots[t] = acc;
  }
  return tree_sum16(dots);
}

// acc += p * v, one fma per element.
template <class T, int kNd>
LOCKSTEP_LANES_INLINE void add_pv(F16* acc, float p, const T* v, int64_t Dv) {
  const int64_t ndv = kNd > 0 ? kNd : (Dv + kLanes - 1) / kLanes;
  const F16 pv = lanes::splat(p);
#pragma GCC unroll 16
  for (int64_t c = 0; c < ndv; ++c)
    acc[c] = lanes::fma16(pv, kNd > 0 ? lanes::load16(v + c * kLanes) : load_chunk(v, c * kLanes, Dv), acc[c]);
}

typedef uint8_t B16 __attribute__((vector_size(16)));

// Rows [row0, row1) of the flattened (b, h, i) index. `work` holds kSplit
// floats (a split's scores, then its exponentials).
template <class T, int kNd>
LOCKSTEP_LANES_INLINE void attention_rows_body(const Problem& p, int64_t row0, int64_t row1, float* work) {
  constexpr int64_t kChunks = kNd > 0 ? kNd : kMaxChunks;
  const int64_t D = p.D, Dv = p.Dv;
  const int64_t nd = kNd > 0 ? kNd : (D + kLanes - 1) / kLanes;
  const int64_t ndv = kNd > 0 ? kNd : (Dv + kLanes - 1) / kLanes;
  float* scores = work;
  alignas(16) uint8_t vis[kSplit];
  const float neg_inf = -__builtin_inff();
  const int64_t group = p.Hq / p.Hkv;
  const T* zero = static_cast<const T*>(p.zero_row);
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t i = row % p.Tq, h = (row / p.Tq) % p.Hq, b = row / (p.Tq * p.Hq);
    const int64_t hk = h / group;
    const T* q = static_cast<const T*>(p.q) + b * p.qs[0] + h * p.qs[1] + i * p.qs[2];
    const T* kb = static_cast<const T*>(p.k) + b * p.ks[0] + hk * p.ks[1];
    const T* vb = static_cast<const T*>(p.v) + b * p.vs[0] + hk * p.vs[1];
    const int64_t moff = b * p.ms[0] + h * p.ms[1] + i * p.ms[2];
    F16 qc[kChunks] = {};
#pragma GCC unroll 16
    for (int64_t c = 0; c < nd; ++c) qc[c] = load_chunk(q, c * kLanes, D);
    auto hidden = [&](int64_t j) {
      if (p.bool_mask) return !p.bool_mask[moff + j * p.ms[3]];
      if (p.add_mask) return p.add_mask[moff + j * p.ms[3]] == neg_inf;
      return false;
    };
    const int64_t kmax = p.causal ? std::min(p.Tk, i + 1) : p.Tk;
    F16 total[kChunks] = {};
    float M = 0.0f, L = 0.0f;
    bool any = false;
    for (int64_t j0 = 0; j0 < kmax; j0 += kSplit) {
      const int64_t n = std::min(kSplit, kmax - j0);
      const int64_t padded = (n + kLanes - 1) / kLanes * kLanes;
      int64_t visible = 0;
      for (int64_t jj = 0; jj < padded; ++jj) {
        vis[jj] = jj < n && !hidden(j0 + jj);
        visible += vis[jj];
      }
      if (visible == 0) continue;
      F16 mvec = lanes::splat(neg_inf);
      for (int64_t jb = 0; jb < padded; jb += kLanes) {
        // hidden keys read a zero row, so every block runs the same code;
        // their scores are replaced by -inf below
        const T* keys[kLanes];
        for (int t = 0; t < kLanes; ++t) keys[t] = vis[jb + t] ? kb + (j0 + jb + t) * p.ks[2] : zero;
        F16 s = dots16<T, kNd>(qc, keys, D) * p.scale;
        if (p.add_mask) {
          F16 add = lanes::splat(0.0f);
          for (int t = 0; t < kLanes; ++t)
            if (vis[jb + t]) add[t] = p.add_mask[moff + (j0 + jb + t) * p.ms[3]];
          s = s + add;
        }
        B16 live8;
        std::memcpy(&live8, vis + jb, sizeof live8);
        s = __builtin_convertvector(live8, lanes::I16) != 0 ? s : lanes::splat(neg_inf);
        mvec = lanes::max16(mvec, s);
        lanes::store16(scores + jb, s);
      }
      const float m = lanes::tree_max(mvec);
      F16 lsum = lanes::splat(0.0f);
      for (int64_t jb = 0; jb < padded; jb += kLanes) {
        const F16 e = lanes::exp16(lanes::load16(scores + jb) - m);
        lsum += e;
        lanes::store16(scores + jb, e);
      }
      const float l = lanes::tree_sum(lsum);
      F16 acc[kChunks] = {};  // +0 in every lane
      for (int64_t jj = 0; jj < n; ++jj)
        if (vis[jj]) add_pv<T, kNd>(acc, scores[jj], vb + (j0 + jj) * p.vs[2], Dv);
      if (!any) {
        any = true;
        M = m;
        L = l;
#pragma GCC unroll 16
        for (int64_t c = 0; c < ndv; ++c) total[c] = acc[c];
      } else {
        const float Mn = m > M ? m : M;
        const float a = lanes::exp1(M - Mn), bsc = lanes::exp1(m - Mn);
        L = L * a + l * bsc;
#pragma GCC unroll 16
        for (int64_t c = 0; c < ndv; ++c) total[c] = total[c] * a + acc[c] * bsc;
        M = Mn;
      }
    }
    T* out = static_cast<T*>(p.out) + row * Dv;
    for (int64_t c = 0; c < ndv; ++c) {
      const F16 o = any ? total[c] / L : lanes::splat(0.0f);
      if ((c + 1) * kLanes <= Dv)
        lanes::store16(out + c * kLanes, o);
      else
        lanes::store_tail(out + c * kLanes, o, Dv - c * kLanes);
    }
  }
}

#define LOCKSTEP_ATTENTION_VARIANT(NAME, T, ND)                                                         \
  LOCKSTEP_LANES_DISPATCH(void, NAME, (const Problem& p, int64_t r0, int64_t r1, float* work), (p, r0, r1, work), \
                          (attention_rows_body<T, ND>(p, r0, r1, work)))
LOCKSTEP_ATTENTION_VARIANT(attention_f32_any, float, 0)
LOCKSTEP_ATTENTION_VARIANT(attention_f32_d64, float, 4)
LOCKSTEP_ATTENTION_VARIANT(attention_f32_d128, float, 8)
LOCKSTEP_ATTENTION_VARIANT(attention_bf16_any, BF16, 0)
LOCKSTEP_ATTENTION_VARIANT(attention_bf16_d64, BF16, 4)
LOCKSTEP_ATTENTION_VARIANT(attention_bf16_d128, BF16, 8)
#undef LOCKSTEP_ATTENTION_VARIANT

// The fixed-head-dim variants are the same definition with the chunk count
// known to the compiler (accumulators in registers).
void run_rows(const Problem& p, bool bf16, int64_t r0, int64_t r1, float* work) {
  const int64_t d = p.D == p.Dv ? p.D : 0;
  if (!bf16) {
    if (d == 64) return attention_f32_d64(p, r0, r1, work);
    if (d == 128) return attention_f32_d128(p, r0, r1, work);
    return attention_f32_any(p, r0, r1, work);
  }
  if (d == 64) return attention_bf16_d64(p, r0, r1, work);
  if (d == 128) return attention_bf16_d128(p, r0, r1, work);
  return attention_bf16_any(p, r0, r1, work);
}

// [..., H, T, D] -> [B, H, T, D] with a unit last stride, copying only when
// the leading dims cannot be merged or the last dim is strided.
at::Tensor canonical(const at::Tensor& x) {
  const int64_t batch = c10::multiply_integers(x.sizes().slice(0, x.dim() - 3));
  at::Tensor r = x.reshape({batch, x.size(-3), x.size(-2), x.size(-1)});
  return r.stride(-1) == 1 ? r : r.contiguous();
}

}  // namespace

at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                const std::optional<at::Tensor>& mask, bool is_causal, std::optional<double> scale,
                bool enable_gqa) {
  TORCH_CHECK(q.device().is_cpu() && k.device().is_cpu() && v.device().is_cpu(),
              "lockstep sdpa: expected CPU tensors");
  TORCH_CHECK(q.scalar_type() == at::kFloat || q.scalar_type() == at::kBFloat16,
              "lockstep sdpa: supports float32 and bfloat16, got ", q.scalar_type());
  TORCH_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(),
              "lockstep sdpa: q, k, v must share one dtype, got ", q.scalar_type(), ", ", k.scalar_type(), ", ",
              v.scalar_type());
  TORCH_CHECK(q.dim() >= 3 && k.dim() == q.dim() && v.dim() == q.dim(),
              "lockstep sdpa: q, k, v must be [..., H, T, D] of one rank >= 3, got ", q.sizes(), ", ", k.sizes(),
              ", ", v.sizes());
  TORCH_CHECK(q.sizes().slice(0, q.dim() - 3).equals(k.sizes().slice(0, k.dim() - 3)) &&
                  k.sizes().slice(0, k.dim() - 3).equals(v.sizes().slice(0, v.dim() - 3)),
              "lockstep sdpa: q, k, v batch dims differ: ", q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  TORCH_CHECK(k.size(-1) == q.size(-1) && k.size(-2) == v.size(-2) && k.size(-3) == v.size(-3),
              "lockstep sdpa: k must be [..., Hkv, Tk, D] and v [..., Hkv, Tk, Dv], got ", k.sizes(), ", ",
              v.sizes());
  TORCH_CHECK(q.size(-1) <= kMaxChunks * kLanes && v.size(-1) <= kMaxChunks * kLanes,
              "lockstep sdpa: head dims up to ", kMaxChunks * kLanes, " are implemented, got ", q.size(-1), " and ",
              v.size(-1));
  const int64_t Hq = q.size(-3), Hkv = k.size(-3);
  TORCH_CHECK(Hq == Hkv || (enable_gqa && Hkv > 0 && Hq % Hkv == 0), "lockstep sdpa: ", Hq, " query heads and ",
              Hkv, " kv heads need ", enable_gqa ? "Hq a multiple of Hkv" : "enable_gqa=true");
  TORCH_CHECK(!(is_causal && mask && mask->defined()),
              "lockstep sdpa: pass either is_causal or an explicit mask, not both (as stock)");

  const at::Tensor q4 = canonical(q), k4 = canonical(k), v4 = canonical(v);
  Problem p{};
  p.B = q4.size(0);
  p.Hq = Hq;
  p.Hkv = Hkv;
  p.Tq = q.size(-2);
  p.Tk = k.size(-2);
  p.D = q.size(-1);
  p.Dv = v.size(-1);
  for (int d = 0; d < 3; ++d) {
    p.qs[d] = q4.stride(d);
    p.ks[d] = k4.stride(d);
    p.vs[d] = v4.stride(d);
  }
  p.causal = is_causal;
  p.scale = static_cast<float>(scale.value_or(1.0 / std::sqrt(static_cast<double>(p.D))));

  at::Tensor m4;
  if (mask && mask->defined()) {
    const at::Tensor& m = *mask;
    TORCH_CHECK(m.scalar_type() == at::kBool || m.scalar_type() == at::kFloat || m.scalar_type() == at::kBFloat16,
                "lockstep sdpa: mask must be bool or float32/bfloat16 additive, got ", m.scalar_type());
    std::vector<int64_t> full(q.sizes().begin(), q.sizes().end() - 1);
    full.push_back(p.Tk);
    // An additive bf16 mask is widened once (exactly); a broadcast mask
    // keeps its zero strides through expand + reshape.
    at::Tensor mx = m.scalar_type() == at::kBFloat16 ? m.to(at::kFloat) : m;
    m4 = mx.expand(full).reshape({p.B, Hq, p.Tq, p.Tk});
    for (int d = 0; d < 4; ++d) p.ms[d] = m4.stride(d);
    if (m4.scalar_type() == at::kBool)
      p.bool_mask = m4.data_ptr<bool>();
    else
      p.add_mask = m4.data_ptr<float>();
  }

  std::vector<int64_t> out_shape(q.sizes().begin(), q.sizes().end() - 1);
  out_shape.push_back(p.Dv);
  at::Tensor out = at::empty(out_shape, q.options());
  p.q = q4.data_ptr();
  p.k = k4.data_ptr();
  p.v = v4.data_ptr();
  p.out = out.data_ptr();
  const at::Tensor zeros = at::zeros({p.D}, q.options());
  p.zero_row = zeros.data_ptr();
  const int64_t rows = p.B * Hq * p.Tq;
  const bool bf16 = q.scalar_type() == at::kBFloat16;
  // A row costs about Tk * (D + Dv) multiply-adds; aim for ~64K per task.
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, p.Tk * (p.D + p.Dv)));
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    std::vector<float> work(static_cast<size_t>(kSplit));
    run_rows(p, bf16, r0, r1, work.data());
  });
  return out;
}

}  // namespace lockstep::kernels::cpu

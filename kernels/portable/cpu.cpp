// Portable mode's CPU kernels (orders: kernels/portable/order.h). Threads
// split the work by output element only, and the SIMD path (AVX2 + FMA)
// computes lane by lane exactly what the scalar path computes with std::fma,
// so the bits depend on neither.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <immintrin.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/portable/ops.h"
#include "kernels/portable/order.h"

namespace lockstep::kernels::portable::cpu {
namespace {

constexpr int kPanel = 16;   // output columns per packed B panel

// acc[r][j] = sum over k in order of a[r][k] * bp[k][j] (fma, from +0), for `rows` rows of A.
void micro_scalar(const float* a, int64_t sa0, int64_t sa1, int rows, const float* bp, int64_t K, float* out) {
  for (int r = 0; r < rows; ++r) {
    float acc[kPanel];
    for (float& x : acc) x = 0.0f;
    const float* ar = a + r * sa0;
    for (int64_t k = 0; k < K; ++k) {
      const float x = ar[k * sa1];
      const float* b = bp + k * kPanel;
      for (int j = 0; j < kPanel; ++j) acc[j] = std::fma(x, b[j], acc[j]);
    }
    std::memcpy(out + r * kPanel, acc, sizeof acc);
  }
}

__attribute__((target("avx2,fma"))) void micro_avx2(const float* a, int64_t sa0, int64_t sa1, int rows,
                                                    const float* bp, int64_t K, float* out) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) {   // four rows at once: eight independent fma chains
    __m256 c[4][2];
    for (auto& row : c) row[0] = row[1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
      const __m256 b0 = _mm256_loadu_ps(bp + k * kPanel), b1 = _mm256_loadu_ps(bp + k * kPanel + 8);
      for (int i = 0; i < 4; ++i) {
        const __m256 x = _mm256_set1_ps(a[(r + i) * sa0 + k * sa1]);
        c[i][0] = _mm256_fmadd_ps(x, b0, c[i][0]);
        c[i][1] = _mm256_fmadd_ps(x, b1, c[i][1]);
      }
    }
    for (int i = 0; i < 4; ++i) {
      _mm256_storeu_ps(out + (r + i) * kPanel, c[i][0]);
      _mm256_storeu_ps(out + (r + i) * kPanel + 8, c[i][1]);
    }
  }
  for (; r < rows; ++r) {
    __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
      const __m256 x = _mm256_set1_ps(a[r * sa0 + k * sa1]);
      c0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(bp + k * kPanel), c0);
      c1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(bp + k * kPanel + 8), c1);
    }
    _mm256_storeu_ps(out + r * kPanel, c0);
    _mm256_storeu_ps(out + r * kPanel + 8, c1);
  }
}

// Few rows times nn.Linear's weight (B = W^T, W row-major [N][K]): no packing. Eight outputs
// n..n+7 at once: an 8x8 block of W (8 rows, 8 consecutive k) is transposed in registers, so
// column t holds W[n+j][k+t], and acc_j = fma(x[k+t], W[n+j][k+t], acc_j) for t in order: each
// output's k order is the sequential one. The k tail and the n tail go through the same steps.
__attribute__((target("avx2,fma"))) void rows_times_wt_avx2(const float* x, int64_t sx1, const float* w, int64_t ldw,
                                                            int64_t n0, int64_t n1, int64_t K, float* out) {
  int64_t n = n0;
  for (; n + 8 <= n1; n += 8) {
    __m256 acc = _mm256_setzero_ps();
    const float* r[8];
    for (int j = 0; j < 8; ++j) r[j] = w + (n + j) * ldw;
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
      __m256 v0 = _mm256_loadu_ps(r[0] + k), v1 = _mm256_loadu_ps(r[1] + k), v2 = _mm256_loadu_ps(r[2] + k),
             v3 = _mm256_loadu_ps(r[3] + k), v4 = _mm256_loadu_ps(r[4] + k), v5 = _mm256_loadu_ps(r[5] + k),
             v6 = _mm256_loadu_ps(r[6] + k), v7 = _mm256_loadu_ps(r[7] + k);
      const __m256 t0 = _mm256_unpacklo_ps(v0, v1), t1 = _mm256_unpackhi_ps(v0, v1);
      const __m256 t2 = _mm256_unpacklo_ps(v2, v3), t3 = _mm256_unpackhi_ps(v2, v3);
      const __m256 t4 = _mm256_unpacklo_ps(v4, v5), t5 = _mm256_unpackhi_ps(v4, v5);
      const __m256 t6 = _mm256_unpacklo_ps(v6, v7), t7 = _mm256_unpackhi_ps(v6, v7);
      const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      const __m256 col[8] = {_mm256_permute2f128_ps(s0, s4, 0x20), _mm256_permute2f128_ps(s1, s5, 0x20),
                             _mm256_permute2f128_ps(s2, s6, 0x20), _mm256_permute2f128_ps(s3, s7, 0x20),
                             _mm256_permute2f128_ps(s0, s4, 0x31), _mm256_permute2f128_ps(s1, s5, 0x31),
                             _mm256_permute2f128_ps(s2, s6, 0x31), _mm256_permute2f128_ps(s3, s7, 0x31)};
      for (int t = 0; t < 8; ++t) acc = _mm256_fmadd_ps(_mm256_set1_ps(x[(k + t) * sx1]), col[t], acc);
    }
    for (; k < K; ++k) {
      const __m256 col = _mm256_setr_ps(r[0][k], r[1][k], r[2][k], r[3][k], r[4][k], r[5][k], r[6][k], r[7][k]);
      acc = _mm256_fmadd_ps(_mm256_set1_ps(x[k * sx1]), col, acc);
    }
    _mm256_storeu_ps(out + (n - n0), acc);
  }
  for (; n < n1; ++n) {
    float acc = 0.0f;
    for (int64_t k = 0; k < K; ++k) acc = std::fma(x[k * sx1], w[n * ldw + k], acc);
    out[n - n0] = acc;
  }
}

void rows_times_wt_scalar(const float* x, int64_t sx1, const float* w, int64_t ldw, int64_t n0, int64_t n1, int64_t K,
                          float* out) {
  for (int64_t n = n0; n < n1; ++n) {
    float acc = 0.0f;
    for (int64_t k = 0; k < K; ++k) acc = std::fma(x[k * sx1], w[n * ldw + k], acc);
    out[n - n0] = acc;
  }
}

bool have_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

using Micro = void (*)(const float*, int64_t, int64_t, int, const float*, int64_t, float*);

Micro pick_micro() { return have_avx2_fma() ? micro_avx2 : micro_scalar; }

// C[M,N] (row stride ldc) = A[M,K] @ B[K,N], any strides; then out = acc*alpha + beta*bias (each
// step only when it changes something; bias [M,N] strides sbm/sbn, or null).
void gemm(const float* A, int64_t sa0, int64_t sa1, const float* B, int64_t sb0, int64_t sb1, float* C, int64_t ldc,
          int64_t M, int64_t N, int64_t K, const float* bias, int64_t sbm, int64_t sbn, float beta, float alpha) {
  auto finish = [&](float v, int64_t m, int64_t n) {
    if (alpha != 1.0f) v = v * alpha;
    if (bias != nullptr && beta != 0.0f) {
      float b = bias[m * sbm + n * sbn];
      if (beta != 1.0f) b = b * beta;
      v = v + b;
    }
    C[m * ldc + n] = v;
  };
  if (sb0 == 1 && M < 16) {   // decode-shaped: x @ W^T without packing W
    const auto rows_times_wt = have_avx2_fma() ? rows_times_wt_avx2 : rows_times_wt_scalar;
    constexpr int64_t kChunk = 256;
    at::parallel_for(0, (N + kChunk - 1) / kChunk, std::max<int64_t>(1, 8192 / std::max<int64_t>(K, 1)),
                     [&](int64_t c0, int64_t c1) {
      float tmp[kChunk];
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t n0 = c * kChunk, n1 = std::min(N, n0 + kChunk);
        for (int64_t m = 0; m < M; ++m) {
          rows_times_wt(A + m * sa0, sa1, B, sb1, n0, n1, K, tmp);
          for (int64_t n = n0; n < n1; ++n) finish(tmp[n - n0], m, n);
        }
      }
    });
    return;
  }
  const int64_t panels = (N + kPanel - 1) / kPanel;
  const Micro micro = pick_micro();
  // Enough panels per task that a small GEMM does not pay for waking threads.
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, K * std::min<int64_t>(M, 64)));
  at::parallel_for(0, panels, grain, [&](int64_t p0, int64_t p1) {
    std::vector<float> bp(static_cast<size_t>(K * kPanel));
    constexpr int kRowBlock = 64;
    std::vector<float> acc(static_cast<size_t>(kRowBlock * kPanel));
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n0 = p * kPanel;
      const int64_t width = std::min<int64_t>(kPanel, N - n0);
      if (width < kPanel) std::fill(bp.begin(), bp.end(), 0.0f);
      if (sb0 == 1) {   // B = W^T of a row-major W (nn.Linear): each column is a contiguous row of W
        for (int64_t j = 0; j < width; ++j) {
          const float* col = B + (n0 + j) * sb1;
          for (int64_t k = 0; k < K; ++k) bp[k * kPanel + j] = col[k];
        }
      } else {
        for (int64_t k = 0; k < K; ++k) {
          for (int64_t j = 0; j < width; ++j) bp[k * kPanel + j] = B[k * sb0 + (n0 + j) * sb1];
        }
      }
      for (int64_t m0 = 0; m0 < M; m0 += kRowBlock) {
        const int rows = static_cast<int>(std::min<int64_t>(kRowBlock, M - m0));
        micro(A + m0 * sa0, sa0, sa1, rows, bp.data(), K, acc.data());
        for (int r = 0; r < rows; ++r) {
          for (int64_t j = 0; j < width; ++j) finish(acc[r * kPanel + j], m0 + r, n0 + j);
        }
      }
    }
  });
}

void check_gemm(const at::Tensor& a, const at::Tensor& b, const char* op) {
  check_fp32(a, op);
  check_fp32(b, op);
}

}  // namespace

at::Tensor mm(const at::Tensor& a, const at::Tensor& b) {
  check_gemm(a, b, "mm");
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  at::Tensor c = at::empty({M, N}, a.options());
  if (M == 0 || N == 0) return c;
  if (K == 0) return c.zero_();
  gemm(a.data_ptr<float>(), a.stride(0), a.stride(1), b.data_ptr<float>(), b.stride(0), b.stride(1),
       c.data_ptr<float>(), N, M, N, K, nullptr, 0, 0, 0.0f, 1.0f);
  return c;
}

at::Tensor addmm(const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b, double beta, double alpha) {
  check_gemm(a, b, "addmm");
  check_fp32(bias, "addmm");
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  const at::Tensor bb = bias.expand({M, N});
  at::Tensor c = at::empty({M, N}, a.options());
  if (M == 0 || N == 0) return c;
  gemm(a.data_ptr<float>(), a.stride(0), a.stride(1), b.data_ptr<float>(), b.stride(0), b.stride(1),
       c.data_ptr<float>(), N, M, N, K, bb.data_ptr<float>(), bb.stride(0), bb.stride(1), static_cast<float>(beta),
       static_cast<float>(alpha));
  return c;
}

at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) {
  check_gemm(a, b, "bmm");
  const int64_t batch = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  at::Tensor c = at::empty({batch, M, N}, a.options());
  if (K == 0) return c.zero_();
  for (int64_t i = 0; i < batch && M > 0 && N > 0; ++i) {
    gemm(a.data_ptr<float>() + i * a.stride(0), a.stride(1), a.stride(2), b.data_ptr<float>() + i * b.stride(0),
         b.stride(1), b.stride(2), c.data_ptr<float>() + i * M * N, N, M, N, K, nullptr, 0, 0, 0.0f, 1.0f);
  }
  return c;
}

at::Tensor sum_last(const at::Tensor& x, bool keepdim, bool mean) {
  check_fp32(x, mean ? "mean" : "sum");
  const at::Tensor xc = x.contiguous();
  const int64_t n = x.dim() == 0 ? 1 : x.size(-1);
  const int64_t rows = n == 0 ? 0 : xc.numel() / n;
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  if (!shape.empty()) {
    if (keepdim) shape.back() = 1; else shape.pop_back();
  }
  at::Tensor out = at::empty(shape, x.options());
  float* o = out.data_ptr<float>();
  const float* in = xc.data_ptr<float>();
  at::parallel_for(0, rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float s = reduce_row(in + r * n, n, 1, 0.0f, SumOp{}, [](float v) { return v; });
      o[r] = mean ? p_div(s, static_cast<float>(n)) : s;
    }
  });
  if (n == 0) out.fill_(mean ? std::numeric_limits<float>::quiet_NaN() : 0.0f);
  return out;
}

at::Tensor softmax_last(const at::Tensor& x, bool log) {
  check_fp32(x, log ? "log_softmax" : "softmax");
  const at::Tensor xc = x.contiguous();
  at::Tensor out = at::empty_like(xc);
  const int64_t n = x.dim() == 0 ? 1 : x.size(-1);
  const int64_t rows = n == 0 ? 0 : xc.numel() / n;
  const float* in = xc.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = in + r * n;
      const float m = reduce_row(row, n, 1, -std::numeric_limits<float>::infinity(), MaxOp{}, [](float v) { return v; });
      const float s = reduce_row(row, n, 1, 0.0f, SumOp{}, [m](float v) { return p_exp(v - m); });
      const float ls = p_log(s);
      for (int64_t i = 0; i < n; ++i) o[r * n + i] = log ? (row[i] - m) - ls : p_div(p_exp(row[i] - m), s);
    }
  });
  return out;
}

at::Tensor unary(const at::Tensor& x, int op) {
  check_fp32(x, "an elementwise op");
  const at::Tensor xc = x.contiguous();
  at::Tensor out = at::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, xc.numel(), 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float v = in[i];
      switch (op) {
        case kRsqrt: o[i] = p_rsqrt(v); break;
        case kSilu: o[i] = p_silu(v); break;
        case kSigmoid: o[i] = p_sigmoid(v); break;
        case kExp: o[i] = p_exp(v); break;
        default: o[i] = p_tanh(v); break;
      }
    }
  });
  return out;
}

at::Tensor rms_norm(const at::Tensor& x, const std::optional<at::Tensor>& weight, double eps) {
  check_fp32(x, "rms_norm");
  const at::Tensor xc = x.contiguous();
  const int64_t n = x.size(-1);
  const int64_t rows = n == 0 ? 0 : xc.numel() / n;
  at::Tensor w;
  if (weight && weight->defined()) {
    check_fp32(*weight, "rms_norm");
    w = weight->contiguous();
  }
  at::Tensor out = at::empty_like(xc);
  const float* in = xc.data_ptr<float>();
  const float* wp = w.defined() ? w.data_ptr<float>() : nullptr;
  float* o = out.data_ptr<float>();
  const float e = static_cast<float>(eps);
  at::parallel_for(0, rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = in + r * n;
      const float ss = reduce_row(row, n, 1, 0.0f, SumOp{}, [](float v) { return v * v; });
      const float inv = p_rsqrt(p_div(ss, static_cast<float>(n)) + e);
      for (int64_t i = 0; i < n; ++i) o[r * n + i] = wp ? (row[i] * inv) * wp[i] : row[i] * inv;
    }
  });
  return out;
}

at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::optional<at::Tensor>& mask,
                bool is_causal, double scale) {
  for (const at::Tensor* t : {&q, &k, &v}) check_fp32(*t, "scaled_dot_product_attention");
  const int64_t D = q.size(-1), Tq = q.size(-2), Tk = k.size(-2), Hq = q.size(-3), Hkv = k.size(-3);
  TORCH_CHECK(Hq % Hkv == 0, "portable mode: query heads must be a multiple of key/value heads");
  const at::Tensor qc = q.contiguous().view({-1, Hq, Tq, D});
  const at::Tensor kc = k.contiguous().view({-1, Hkv, Tk, D});
  const at::Tensor vc = v.contiguous().view({-1, Hkv, Tk, v.size(-1)});
  const int64_t Dv = v.size(-1), B = qc.size(0);
  const at::Tensor add = additive_mask(mask, q, k);
  at::Tensor out = at::empty({B, Hq, Tq, Dv}, q.options());
  const float* qp = qc.data_ptr<float>();
  const float* kp = kc.data_ptr<float>();
  const float* vp = vc.data_ptr<float>();
  const float* mp = add.defined() ? add.data_ptr<float>() : nullptr;
  float* o = out.data_ptr<float>();
  const float sc = static_cast<float>(scale);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  at::parallel_for(0, B * Hq * Tq, 1, [&](int64_t r0, int64_t r1) {
    std::vector<float> p(static_cast<size_t>(Tk));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r % Tq, h = (r / Tq) % Hq, b = r / (Tq * Hq);
      const int64_t hk = h / (Hq / Hkv);
      const float* qi = qp + r * D;
      const float* kb = kp + (b * Hkv + hk) * Tk * D;
      const float* vb = vp + (b * Hkv + hk) * Tk * Dv;
      const float* mrow = mp ? mp + ((b * Hq + h) * Tq + i) * Tk : nullptr;
      float m = neg_inf;
      for (int64_t j = 0; j < Tk; ++j) {
        float s = neg_inf;
        if (!(is_causal && j > i) && !(mrow && mrow[j] == neg_inf)) {
          float acc = 0.0f;
          for (int64_t d = 0; d < D; ++d) acc = std::fma(qi[d], kb[j * D + d], acc);
          s = acc * sc;
          if (mrow) s = s + mrow[j];
        }
        p[j] = s;
        m = MaxOp{}(m, s);
      }
      float l = 0.0f;
      for (int64_t j = 0; j < Tk; ++j) {
        p[j] = p[j] == neg_inf ? 0.0f : p_exp(p[j] - m);
        l = l + p[j];
      }
      float* oi = o + r * Dv;
      for (int64_t d = 0; d < Dv; ++d) {
        float acc = 0.0f;
        for (int64_t j = 0; j < Tk; ++j) {
          if (p[j] != 0.0f) acc = std::fma(p[j], vb[j * Dv + d], acc);
        }
        oi[d] = l > 0.0f ? p_div(acc, l) : 0.0f;
      }
    }
  });
  std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end());
  shape.back() = Dv;
  return out.view(shape);
}

}  // namespace lockstep::kernels::portable::cpu

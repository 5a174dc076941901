// Portable mode's fp32 GEMM on CUDA. Every output element is order.h's dot product: acc = +0,
// then acc = fmaf(A[m][k], B[k][n], acc) for k = 0, 1, ..., K-1, one rounding per step, then the
// epilogue (finish below: alpha, then beta * bias, each only where it changes something). No
// kernel here splits, blocks or reorders a chain, and none runs a step past K: a kernel decides
// only which thread runs which outputs' chains and how the operands reach shared memory, so every
// path and tile size gives the same bits, cpu.cpp's. Compiled like cuda.cu (CMakeLists.txt):
// --fmad=false, so the only fused multiply-adds are the explicit __fmaf_rn; the epilogue is
// __fmul_rn / __fadd_rn. No tensor cores, no TF32, no split-K.
//
// Both kernels are fed by cp.async pipelines: S stages of K tiles in shared memory, one
// __syncthreads per tile, copies of out-of-range elements write zeros and read nothing.
// - rows_kernel (M <= 8, B = W^T: nn.Linear's decode): a block owns NB rows of W, streams them
//   once along k (16-byte copies where aligned), and thread (n, m) runs its chain over the staged
//   k's in order. Memory-bound at M = 1.
// - tile_kernel (the rest): a BM x BN tile of C per block, TM x TN outputs per thread, K tiles of
//   BK staged transposed ([k][m], [k][n]) by 4-byte copies that run along whichever dimension of
//   the operand is contiguous, so W^T, row-major A and row-major B all load coalesced.
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/portable/cuda_gemm.h"
#include "kernels/portable/ops.h"

namespace lockstep::kernels::portable::cuda {
namespace {

struct Operand {   // element (r, k) at p[r * sr + k * sk], r < rows: A's rows are m, B's are n
  const float* p;
  int64_t sr, sk, rows;
};

struct Args {
  Operand a, b;
  float* c;
  int64_t ldc, M, N, K;
  const float* bias;
  int64_t sbm, sbn;
  float beta, alpha;
  bool vec_a, vec_b, vec_c;   // 16-byte copies of A / B rows, vector stores of C (layout, alignment)
};

__device__ __forceinline__ unsigned shared_address(const float* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
// Asynchronous copies into shared memory; with ok false they write zeros and read nothing.
__device__ __forceinline__ void copy4(float* dst, const float* src, bool ok) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared_address(dst)),
               "l"(__cvta_generic_to_global(src)), "r"(ok ? 4 : 0)
               : "memory");
}
__device__ __forceinline__ void copy16(float* dst, const float* src, bool ok) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst)),
               "l"(__cvta_generic_to_global(src)), "r"(ok ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wait_all_but() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// The epilogue of the old cuda.cu kernel and of cpu.cpp, step for step.
__device__ __forceinline__ float finish(float v, const Args& g, int64_t m, int64_t n) {
  if (g.alpha != 1.0f) v = __fmul_rn(v, g.alpha);
  if (g.bias != nullptr && g.beta != 0.0f) {
    float bv = g.bias[m * g.sbm + n * g.sbn];
    if (g.beta != 1.0f) bv = __fmul_rn(bv, g.beta);
    v = __fadd_rn(v, bv);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// tile_kernel

// One operand's K tile, stored [BK][R + 4] (rows 16-byte aligned; a copy along k puts 8 k's of 4
// rows in distinct banks). Thread tid copies kE elements, (r_t + i*dr, k_t + i*dk): along k when
// the operand is contiguous in k (lanes over k), else along r (lanes over r).
template <int R, int BK, int T>
struct TileCopy {
  static constexpr int kLd = R + 4, kE = R * BK / T;
  static_assert(T % BK == 0 && R % (T / BK) == 0 && T % R == 0 && BK % (T / R) == 0, "tile copy shape");
  const float* src;   // element (r0 + r_t, k_t) of the next tile to copy
  int64_t step, tile_step;
  int rows_ok;        // elements i < rows_ok are rows in range
  int k_t, dk, dst, dst_step;

  __device__ TileCopy(const Operand& op, int64_t r0, int tid) {
    int r_t, dr;
    if (op.sk == 1) {
      k_t = tid % BK, r_t = tid / BK, dr = T / BK, dk = 0;
    } else {
      r_t = tid % R, k_t = tid / R, dr = 0, dk = T / R;
    }
    src = op.p + (r0 + r_t) * op.sr + k_t * op.sk;
    step = dr * op.sr + dk * op.sk;
    tile_step = BK * op.sk;
    const int64_t left = op.rows - r0 - r_t;   // rows r_t + i * dr, i < kE, are in range while i * dr < left
    rows_ok = left <= 0 ? 0 : dr == 0 ? kE : static_cast<int>(std::min<int64_t>(kE, (left + dr - 1) / dr));
    dst = k_t * kLd + r_t;
    dst_step = dk * kLd + dr;
  }
  // Copies K tile `tile` into s and moves on to the next one.
  __device__ __forceinline__ void load(float* s, const float* any, int tile, int64_t K) {
    const int64_t k_left = K - static_cast<int64_t>(tile) * BK - k_t;   // elements k_t + i * dk < K
    const int k_ok = k_left <= 0 ? 0 : dk == 0 ? kE : static_cast<int>(std::min<int64_t>(kE, (k_left + dk - 1) / dk));
    const int n_ok = rows_ok < k_ok ? rows_ok : k_ok;
#pragma unroll
    for (int i = 0; i < kE; ++i) copy4(s + dst + i * dst_step, i < n_ok ? src + i * step : any, i < n_ok);
    src += tile_step;
  }
};

// TR values of a thread: TR / V vectors of V = min(TR, 4) consecutive values, R / (TR / V) apart.
template <int R, int TR>
__device__ __forceinline__ void read_fragment(const float* row, int t, float (&v)[TR]) {
  constexpr int V = TR < 4 ? TR : 4, H = TR / V;
#pragma unroll
  for (int h = 0; h < H; ++h) {
    const float* p = row + h * (R / H) + t * V;
    if constexpr (V == 4) {
      const float4 x = *reinterpret_cast<const float4*>(p);
      v[4 * h] = x.x, v[4 * h + 1] = x.y, v[4 * h + 2] = x.z, v[4 * h + 3] = x.w;
    } else if constexpr (V == 2) {
      const float2 x = *reinterpret_cast<const float2*>(p);
      v[2 * h] = x.x, v[2 * h + 1] = x.y;
    } else {
      v[h] = p[0];
    }
  }
}

// One k step of every chain the thread owns.
template <int BM, int BN, int TM, int TN>
__device__ __forceinline__ void fma_step(const float* a_row, const float* b_row, int ty, int tx,
                                         float (&acc)[TM][TN]) {
  float a[TM], b[TN];
  read_fragment<BM, TM>(a_row, ty, a);
  read_fragment<BN, TN>(b_row, tx, b);
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = __fmaf_rn(a[i], b[j], acc[i][j]);
}

template <int BM, int BN, int TM, int TN, int BK, int S, int MINB>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), MINB) tile_kernel(const Args g) {
  constexpr int TY = BM / TM, TX = BN / TN, T = TY * TX;
  constexpr int VM = TM < 4 ? TM : 4, VN = TN < 4 ? TN : 4;
  static_assert(TY % 4 == 0 && TX % 8 == 0, "a warp is 4 x 8 threads");
  using CopyA = TileCopy<BM, BK, T>;
  using CopyB = TileCopy<BN, BK, T>;
  __shared__ __align__(16) float As[S][BK * CopyA::kLd];
  __shared__ __align__(16) float Bs[S][BK * CopyB::kLd];

  // Groups of 8 M tiles, within a group M tiles fastest: blocks running together share tiles in L2.
  const int64_t tiles_m = (g.M + BM - 1) / BM, tiles_n = (g.N + BN - 1) / BN;
  const int64_t pid = blockIdx.x, per_group = 8 * tiles_n, first_m = pid / per_group * 8;
  const int64_t group_m = tiles_m - first_m < 8 ? tiles_m - first_m : 8, in_group = pid % per_group;
  const int64_t m0 = (first_m + in_group % group_m) * BM, n0 = in_group / group_m * BN;

  const int tid = threadIdx.x;
  CopyA copy_a(g.a, m0, tid);
  CopyB copy_b(g.b, n0, tid);
  const int tiles = static_cast<int>((g.K + BK - 1) / BK);
#pragma unroll
  for (int s = 0; s < S - 1; ++s) {
    if (s < tiles) {
      copy_a.load(As[s], g.a.p, s, g.K);
      copy_b.load(Bs[s], g.b.p, s, g.K);
    }
    commit();
  }

  const int lane = tid % 32, warp = tid / 32;
  const int ty = warp / (TX / 8) * 4 + lane / 8, tx = warp % (TX / 8) * 8 + lane % 8;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  for (int t = 0; t < tiles; ++t) {
    wait_all_but<S - 2>();   // this thread's copies of tile t have landed
    __syncthreads();         // everyone's have, and everyone is done with tile t - 1's stage
    const int next = t + S - 1;
    if (next < tiles) {
      copy_a.load(As[next % S], g.a.p, next, g.K);
      copy_b.load(Bs[next % S], g.b.p, next, g.K);
    }
    commit();
    const float* as = As[t % S];
    const float* bs = Bs[t % S];
    const int64_t left = g.K - static_cast<int64_t>(t) * BK;
    if (left >= BK) {
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) fma_step<BM, BN, TM, TN>(as + kk * CopyA::kLd, bs + kk * CopyB::kLd, ty, tx, acc);
    } else {   // the last tile: its k's only, never a step past K
      for (int kk = 0; kk < left; ++kk) fma_step<BM, BN, TM, TN>(as + kk * CopyA::kLd, bs + kk * CopyB::kLd, ty, tx, acc);
    }
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t m = m0 + i / VM * (BM / (TM / VM)) + ty * VM + i % VM;
    if (m >= g.M) continue;
    float* crow = g.c + m * g.ldc;
#pragma unroll
    for (int h = 0; h < TN / VN; ++h) {
      const int64_t n = n0 + h * (BN / (TN / VN)) + tx * VN;
      float v[VN];
#pragma unroll
      for (int j = 0; j < VN; ++j) v[j] = acc[i][h * VN + j];
      if (VN > 1 && g.vec_c && n + VN <= g.N) {
#pragma unroll
        for (int j = 0; j < VN; ++j) v[j] = finish(v[j], g, m, n + j);
        if constexpr (VN == 4) {
          *reinterpret_cast<float4*>(crow + n) = make_float4(v[0], v[1], v[2], v[3]);
        } else if constexpr (VN == 2) {
          *reinterpret_cast<float2*>(crow + n) = make_float2(v[0], v[1]);
        }
      } else {
#pragma unroll
        for (int j = 0; j < VN; ++j) {
          if (n + j < g.N) crow[n + j] = finish(v[j], g, m, n + j);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// rows_kernel

constexpr int kRowsMaxM = 8, kRowsThreads = 128;

// rows rows of an operand, KT k's from k0, into [rows][KT + 4]: 16-byte pieces where vec (sk == 1,
// K and sr multiples of 4, 16-byte aligned), else single elements; lanes run along k.
template <int KT>
__device__ __forceinline__ void copy_rows(float* s, const Operand& op, int64_t r0, int rows, int64_t k0, int64_t K,
                                          bool vec) {
  constexpr int kLd = KT + 4;
  if (vec) {
    for (int c = threadIdx.x; c < rows * (KT / 4); c += kRowsThreads) {
      const int r = c / (KT / 4), q = c % (KT / 4) * 4;
      const bool ok = r0 + r < op.rows && k0 + q < K;
      copy16(s + r * kLd + q, ok ? op.p + (r0 + r) * op.sr + k0 + q : op.p, ok);
    }
  } else {
    for (int c = threadIdx.x; c < rows * KT; c += kRowsThreads) {
      const int r = c / KT, k = c % KT;
      const bool ok = r0 + r < op.rows && k0 + k < K;
      copy4(s + r * kLd + k, ok ? op.p + (r0 + r) * op.sr + (k0 + k) * op.sk : op.p, ok);
    }
  }
}

template <int NB, int KT, int S>
__global__ void __launch_bounds__(kRowsThreads, 5) rows_kernel(const Args g) {
  constexpr int kLd = KT + 4, G = kRowsThreads / NB, J = (kRowsMaxM + G - 1) / G;
  __shared__ __align__(16) float Ws[S][NB * kLd];
  __shared__ __align__(16) float Xs[S][kRowsMaxM * kLd];
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * NB;
  const int M = static_cast<int>(g.M);
  const int tiles = static_cast<int>((g.K + KT - 1) / KT);
#pragma unroll
  for (int s = 0; s < S - 1; ++s) {
    if (s < tiles) {
      copy_rows<KT>(Ws[s], g.b, n0, NB, static_cast<int64_t>(s) * KT, g.K, g.vec_b);
      copy_rows<KT>(Xs[s], g.a, 0, M, static_cast<int64_t>(s) * KT, g.K, g.vec_a);
    }
    commit();
  }
  // Thread (nl, mg) owns outputs (n0 + nl, mg + j * G).
  const int nl = threadIdx.x % NB, mg = threadIdx.x / NB;
  const bool active = n0 + nl < g.N && mg < M;
  float acc[J];
#pragma unroll
  for (int j = 0; j < J; ++j) acc[j] = 0.0f;

  for (int t = 0; t < tiles; ++t) {
    wait_all_but<S - 2>();
    __syncthreads();
    const int next = t + S - 1;
    if (next < tiles) {
      copy_rows<KT>(Ws[next % S], g.b, n0, NB, static_cast<int64_t>(next) * KT, g.K, g.vec_b);
      copy_rows<KT>(Xs[next % S], g.a, 0, M, static_cast<int64_t>(next) * KT, g.K, g.vec_a);
    }
    commit();
    if (!active) continue;
    const float* w = Ws[t % S] + nl * kLd;
    const float* x = Xs[t % S];
    const int64_t left = g.K - static_cast<int64_t>(t) * KT;
    if (left >= KT) {
#pragma unroll 2
      for (int q = 0; q < KT; q += 4) {
        const float4 wv = *reinterpret_cast<const float4*>(w + q);
#pragma unroll
        for (int j = 0; j < J; ++j) {
          if (mg + j * G < M) {
            const float4 xv = *reinterpret_cast<const float4*>(x + (mg + j * G) * kLd + q);
            acc[j] = __fmaf_rn(xv.x, wv.x, acc[j]);
            acc[j] = __fmaf_rn(xv.y, wv.y, acc[j]);
            acc[j] = __fmaf_rn(xv.z, wv.z, acc[j]);
            acc[j] = __fmaf_rn(xv.w, wv.w, acc[j]);
          }
        }
      }
    } else {   // the last tile: its k's only
      for (int kk = 0; kk < left; ++kk) {
#pragma unroll
        for (int j = 0; j < J; ++j) {
          if (mg + j * G < M) acc[j] = __fmaf_rn(x[(mg + j * G) * kLd + kk], w[kk], acc[j]);
        }
      }
    }
  }
  if (!active) return;
  const int64_t n = n0 + nl;
#pragma unroll
  for (int j = 0; j < J; ++j) {
    const int m = mg + j * G;
    if (m < M) g.c[m * g.ldc + n] = finish(acc[j], g, m, n);
  }
}

// ---------------------------------------------------------------------------------------------
// Paths and the choice among them

using Launch = void (*)(const Args&, cudaStream_t);

template <int BM, int BN, int TM, int TN, int BK, int S, int MINB>
void launch_tile(const Args& g, cudaStream_t stream) {
  const int64_t blocks = (g.M + BM - 1) / BM * ((g.N + BN - 1) / BN);
  TORCH_CHECK(blocks < (int64_t{1} << 31), "portable mode: GEMM of ", g.M, " x ", g.N, " is too large");
  tile_kernel<BM, BN, TM, TN, BK, S, MINB>
      <<<static_cast<unsigned>(blocks), (BM / TM) * (BN / TN), 0, stream>>>(g);
}

template <int NB, int KT, int S>
void launch_rows(const Args& g, cudaStream_t stream) {
  rows_kernel<NB, KT, S><<<static_cast<unsigned>((g.N + NB - 1) / NB), kRowsThreads, 0, stream>>>(g);
}

// bm/bn: rows of the block (0 for the decode paths, which take M <= 8, and own nb = bn rows of W).
// per_sm: blocks one SM holds (ptxas's registers and the static shared memory, sm_90a).
struct Path {
  const char* name;
  int bm, bn, tm, tn, threads, per_sm;
  Launch launch;
};

constexpr Path kPaths[] = {
    {"rows64", 0, 64, 0, 0, kRowsThreads, 5, launch_rows<64, 32, 4>},
    {"rows32", 0, 32, 0, 0, kRowsThreads, 5, launch_rows<32, 64, 4>},
    {"rows16", 0, 16, 0, 0, kRowsThreads, 5, launch_rows<16, 128, 3>},
    {"tile128x128", 128, 128, 8, 8, 256, 2, launch_tile<128, 128, 8, 8, 8, 4, 2>},
    {"tile64x128", 64, 128, 8, 8, 128, 3, launch_tile<64, 128, 8, 8, 16, 3, 3>},
    {"tile32x128", 32, 128, 4, 8, 128, 5, launch_tile<32, 128, 4, 8, 16, 3, 5>},
    {"tile64x64", 64, 64, 4, 4, 256, 3, launch_tile<64, 64, 4, 4, 16, 4, 3>},
    {"tile32x64", 32, 64, 4, 4, 128, 6, launch_tile<32, 64, 4, 4, 16, 4, 6>},
    {"tile16x64", 16, 64, 4, 4, 64, 10, launch_tile<16, 64, 4, 4, 16, 4, 10>},
    {"tile16x32", 16, 32, 2, 2, 128, 8, launch_tile<16, 32, 2, 2, 16, 4, 8>},
};
constexpr int kPathCount = static_cast<int>(sizeof(kPaths) / sizeof(kPaths[0]));
constexpr int kFirstTile = 3;

// Estimated clocks of a tile path on an H100 (132 SMs, 4 schedulers each issuing one instruction
// a clock): the busiest SM's waves of resident blocks, each k step costing the instructions of its
// warps per scheduler (fmas, fragment reads, copies) or, for a lone warp, its own chain of them;
// or the L2 traffic of every block's operand tiles at ~2.5 KB a clock, if that is longer. Only a
// choice of speed: every path gives the same bits.
double tile_cost(const Path& p, int64_t M, int64_t N, int64_t K) {
  constexpr double kSms = 132, kL2BytesPerClock = 2500;
  const double blocks = std::ceil(static_cast<double>(M) / p.bm) * std::ceil(static_cast<double>(N) / p.bn);
  const double per_sm = std::ceil(blocks / kSms), waves = std::ceil(per_sm / p.per_sm);
  const double warps = std::max(1.0, std::min(per_sm, static_cast<double>(p.per_sm)) * p.threads / 128.0);
  const double reads = (p.tm < 4 ? 1 : p.tm / 4) + (p.tn < 4 ? 1 : p.tn / 4);
  const double instr = p.tm * p.tn + reads + 4.0 * (p.bm + p.bn) / p.threads;
  const double compute = waves * static_cast<double>(K) * std::max(warps * instr, instr + 8);
  const double l2 = blocks * (p.bm + p.bn) * static_cast<double>(K) * 4 / kL2BytesPerClock;
  return std::max(compute, l2);
}

Operand operand(const float* p, int64_t sr, int64_t sk, int64_t rows) { return Operand{p, sr, sk, rows}; }

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Rows of op may be copied 16 bytes at a time.
bool rows_vectorize(const Operand& op, int64_t K) {
  return op.sk == 1 && K % 4 == 0 && (op.sr % 4 == 0 || op.rows == 1) && aligned16(op.p);
}

}  // namespace

int gemm_path_count() { return kPathCount; }

const char* gemm_path_name(int path) {
  TORCH_CHECK(path >= 0 && path < kPathCount, "portable GEMM: no path ", path);
  return kPaths[path].name;
}

bool gemm_path_fits(int path, int64_t M) {
  return path >= 0 && path < kPathCount && (kPaths[path].bm > 0 || M <= kRowsMaxM);
}

int gemm_path_for(int64_t M, int64_t N, int64_t K, bool b_is_wt) {
  if (M <= kRowsMaxM && b_is_wt) {   // decode: the widest row block that still gives 2 blocks per SM
    for (int p = 0; p < kFirstTile - 1; ++p) {
      if ((N + kPaths[p].bn - 1) / kPaths[p].bn >= 2 * 132) return p;
    }
    return kFirstTile - 1;
  }
  int best = kFirstTile;
  double best_cost = tile_cost(kPaths[best], M, N, K);
  for (int p = kFirstTile + 1; p < kPathCount; ++p) {
    const double c = tile_cost(kPaths[p], M, N, K);
    if (c < best_cost) best = p, best_cost = c;
  }
  return best;
}

void gemm(const float* A, int64_t sa0, int64_t sa1, const float* B, int64_t sb0, int64_t sb1, float* C, int64_t ldc,
          int64_t M, int64_t N, int64_t K, const float* bias, int64_t sbm, int64_t sbn, float beta, float alpha,
          int path) {
  if (M == 0 || N == 0) return;
  TORCH_CHECK(K < (int64_t{1} << 31) - 256, "portable mode: GEMM with K = ", K, " is too long");
  if (path < 0) path = gemm_path_for(M, N, K, sb0 == 1);
  TORCH_CHECK(gemm_path_fits(path, M), "portable GEMM: path ", gemm_path_name(path), " does not take M = ", M);
  Args g{operand(A, sa0, sa1, M), operand(B, sb1, sb0, N), C, ldc, M, N, K, bias, sbm, sbn, beta, alpha,
         false, false, false};
  g.vec_a = rows_vectorize(g.a, K);
  g.vec_b = rows_vectorize(g.b, K);
  g.vec_c = ldc % 4 == 0 && aligned16(C);
  kPaths[path].launch(g, at::cuda::getCurrentCUDAStream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor gemm_on_path(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias, double beta,
                        double alpha, int path) {
  check_fp32(a, "mm");
  check_fp32(b, "mm");
  TORCH_CHECK(a.is_cuda() && b.is_cuda() && a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0),
              "gemm_on_path: a [M, K] and b [K, N] on CUDA");
  const c10::cuda::CUDAGuard guard(a.device());
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  at::Tensor c = at::empty({M, N}, a.options());
  at::Tensor bb;
  if (bias && bias->defined()) {
    check_fp32(*bias, "addmm");
    bb = bias->expand({M, N});
  }
  gemm(a.data_ptr<float>(), a.stride(0), a.stride(1), b.data_ptr<float>(), b.stride(0), b.stride(1),
       c.data_ptr<float>(), N, M, N, K, bb.defined() ? bb.data_ptr<float>() : nullptr, bb.defined() ? bb.stride(0) : 0,
       bb.defined() ? bb.stride(1) : 0, static_cast<float>(beta), static_cast<float>(alpha), path);
  return c;
}

}  // namespace lockstep::kernels::portable::cuda

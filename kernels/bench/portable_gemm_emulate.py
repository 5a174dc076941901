#!/usr/bin/env python3
"""Host emulation of kernels/portable/cuda_gemm.cu (no GPU needed): the kernels' source, cut out of
the .cu file as it is, compiled for the CPU with CUDA's constructs replaced (a block = threads with a
std::barrier for __syncthreads, cp.async = an immediate copy, __fmaf_rn = std::fma), every path of
kPaths run on odd shapes and four layouts (W^T, row-major B, transposed A, unaligned), mm and the
addmm epilogue, compared bitwise with the sequential fma chain. It checks the index math, bounds,
padding and epilogue, not timing or the asynchronous pipeline.

    python3 kernels/bench/portable_gemm_emulate.py [cuda_gemm.cu]   (needs g++ with C++20; ~1 minute)

A deliberate bug (the last K tile run in full: `if (left >= BK)` -> `if (true)`) fails 108 runs.
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHIM = r"""// The CUDA constructs the portable GEMM kernels use, on the host.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <thread>
#include <vector>
#include <functional>
struct Dim { unsigned x = 0, y = 0, z = 0; };
inline thread_local Dim threadIdx, blockIdx;
inline std::barrier<>* g_barrier = nullptr;
inline void __syncthreads() { g_barrier->arrive_and_wait(); }
struct float4 { float x, y, z, w; };
struct float2 { float x, y; };
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
inline float2 make_float2(float a, float b) { return {a, b}; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
inline void copy4(float* dst, const float* src, bool ok) { *dst = ok ? *src : 0.0f; }
inline void copy16(float* dst, const float* src, bool ok) { for (int i = 0; i < 4; ++i) dst[i] = ok ? src[i] : 0.0f; }
inline void commit() {}
template <int N> inline void wait_all_but() {}
// Runs kernel(args) over `blocks` blocks of `threads` threads, one block at a time.
template <class F>
void launch(unsigned blocks, unsigned threads, F kernel) {
  for (unsigned b = 0; b < blocks; ++b) {
    std::barrier<> bar(threads);
    g_barrier = &bar;
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t) ts.emplace_back([=] { blockIdx.x = b; threadIdx.x = t; kernel(); });
    for (auto& t : ts) t.join();
  }
}
"""

MAIN = r"""#include "shim.h"
#include <cstdio>
#include <cstring>
#include <random>
namespace emu {
#include "kernels.inc"
struct P { const char* name; bool rows; void (*run)(const Args&); };
const P kP[] = {
#include "paths.inc"
};
bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
bool rows_vectorize(const Operand& op, int64_t K) {
  return op.sk == 1 && K % 4 == 0 && (op.sr % 4 == 0 || op.rows == 1) && aligned16(op.p);
}
}  // namespace emu
using namespace emu;
std::mt19937 rng(5);
float rnd() { return std::normal_distribution<float>()(rng); }
int main() {
  int fails = 0, runs = 0;
  struct S { int64_t M, K, N; };
  for (S sh : {S{1, 333, 77}, S{3, 64, 48}, S{17, 40, 130}, S{65, 333, 77}, S{8, 64, 200}, S{300, 19, 100}, S{5, 0, 9}, S{130, 16, 260}}) {
    for (int layout = 0; layout < 4; ++layout) {   // W^T, row-major B, A^T, unaligned
      const int64_t M = sh.M, K = sh.K, N = sh.N;
      const int64_t pad = layout == 3 ? 1 : 0;
      std::vector<float> abuf((M + 1) * (K + 1) + 8), bbuf((N + 1) * (K + 1) + 8), bias(N);
      for (auto& v : abuf) v = rnd();
      for (auto& v : bbuf) v = rnd() * 1e-20f;
      for (auto& v : bias) v = rnd() * 1e-20f;
      int64_t sa0, sa1, sb0, sb1;
      const float* A; const float* B;
      if (layout == 2) { sa0 = 1; sa1 = M; } else { sa0 = K + pad; sa1 = 1; }
      if (layout == 1) { sb0 = N; sb1 = 1; } else { sb0 = 1; sb1 = K + pad; }
      A = abuf.data() + pad; B = bbuf.data() + pad;
      for (int64_t k = 0; k < K; ++k) const_cast<float*>(A)[0 * sa0 + k * sa1] = -1e-30f;
      for (int epi = 0; epi < 2; ++epi) {
        const float beta = epi ? 0.5f : 0.0f, alpha = epi ? 3.0f : 1.0f;
        std::vector<float> want(M * N);
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            float acc = 0.0f;
            for (int64_t k = 0; k < K; ++k) acc = std::fma(A[m * sa0 + k * sa1], B[k * sb0 + n * sb1], acc);
            float v = acc;
            if (alpha != 1.0f) v = __fmul_rn(v, alpha);
            if (epi && beta != 0.0f) { float bv = bias[n]; if (beta != 1.0f) bv = __fmul_rn(bv, beta); v = __fadd_rn(v, bv); }
            want[m * N + n] = v;
          }
        for (const P& p : kP) {
          if (p.rows && M > kRowsMaxM) continue;
          std::vector<float> C(M * N + 4, std::nanf(""));
          Args g{Operand{A, sa0, sa1, M}, Operand{B, sb1, sb0, N}, C.data(), N, M, N, K, epi ? bias.data() : nullptr,
                 0, 1, beta, alpha, false, false, false};
          g.vec_a = rows_vectorize(g.a, K);
          g.vec_b = rows_vectorize(g.b, K);
          g.vec_c = N % 4 == 0 && aligned16(C.data());
          p.run(g);
          ++runs;
          if (std::memcmp(C.data(), want.data(), M * N * 4) != 0) {
            int64_t i = 0;
            while (std::memcmp(&C[i], &want[i], 4) == 0) ++i;
            std::printf("FAIL %s M=%ld K=%ld N=%ld layout %d epi %d: element %ld (%ld,%ld) got %g want %g\n", p.name, M, K, N,
                        layout, epi, i, i / N, i % N, C[i], want[i]);
            ++fails;
          }
        }
      }
    }
  }
  std::printf("%d runs, %d failures\n", runs, fails);
  return fails != 0;
}
"""


def kernel_source(cu):
    body = cu[cu.index("struct Operand {"):cu.index("// Paths and the choice")]
    body = body[:body.rindex("// ----", 0, len(body))]
    start, end = body.index("__device__ __forceinline__ unsigned shared_address"), body.index("// The epilogue of")
    return body[:start] + body[end:]   # the asm copies come from the shim


def path_table(cu):
    block = cu[cu.index("constexpr Path kPaths[] = {"):]
    block = block[:block.index("};")]
    out = []
    for m in re.finditer(r'\{"(\w+)", (\d+), (\d+), \d+, \d+, \w+, \d+, (launch_(?:rows|tile))<([\d, ]+)>\}', block):
        name, _, _, kind, targs = m.groups()
        t = [int(x) for x in targs.split(",")]
        if kind == "launch_rows":
            out.append(f'{{"{name}", true, [](const Args& g) {{ launch((g.N + {t[0]} - 1) / {t[0]}, kRowsThreads, '
                       f'[&] {{ rows_kernel<{targs}>(g); }}); }}}}')
        else:
            bm, bn, tm, tn = t[:4]
            out.append(f'{{"{name}", false, [](const Args& g) {{ launch(((g.M + {bm} - 1) / {bm}) * ((g.N + {bn} - 1) / {bn}), '
                       f'{(bm // tm) * (bn // tn)}, [&] {{ tile_kernel<{targs}>(g); }}); }}}}')
    if not out:
        sys.exit("no paths found in kPaths")
    return ",\n".join(out) + "\n"


def main():
    cu = open(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "kernels/portable/cuda_gemm.cu")).read()
    with tempfile.TemporaryDirectory() as d:
        for name, text in (("shim.h", SHIM), ("kernels.inc", kernel_source(cu)), ("paths.inc", path_table(cu)),
                           ("main.cpp", MAIN)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        exe = os.path.join(d, "emulate")
        subprocess.run(["g++", "-std=c++20", "-O1", "-ffp-contract=off", "-pthread", "-o", exe, os.path.join(d, "main.cpp")],
                       check=True)
        sys.exit(subprocess.run([exe]).returncode)


if __name__ == "__main__":
    main()

// Portable mode's CUDA kernels: the orders of kernels/portable/order.h and the
// functions of kernels/portable/math.h, bit for bit those of cpu.cpp. This file
// is compiled with --fmad=false (no contraction nvcc may choose), IEEE division
// and square root, and denormals kept (CMakeLists.txt); the only fused
// multiply-adds are the explicit ones of the defined orders. No tensor cores.
// The GEMM (mm, addmm, bmm below) lives in cuda_gemm.cu.
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>

#include <limits>

#include "kernels/portable/cuda_gemm.h"
#include "kernels/portable/ops.h"
#include "kernels/portable/order.h"

namespace lockstep::kernels::portable::cuda {
namespace {

// The row tree of order.h with a warp: lanes as on the CPU, then the xor butterfly.
template <class Op, class Map>
__device__ float warp_reduce_row(const float* x, int64_t n, float init, Op op, Map map) {
  const int lane = threadIdx.x % 32;
  float v = init;
  for (int64_t i = lane; i < n; i += 32) v = op(v, map(x[i]));
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

struct Identity {
  __device__ float operator()(float v) const { return v; }
};
struct Square {
  __device__ float operator()(float v) const { return __fmul_rn(v, v); }
};
struct ExpMinus {
  float m;
  __device__ float operator()(float v) const { return p_exp(__fsub_rn(v, m)); }
};

constexpr int kRowsPerBlock = 4;   // one warp per row

__global__ void sum_kernel(const float* x, float* out, int64_t rows, int64_t n, bool mean) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (r >= rows) return;
  const float s = warp_reduce_row(x + r * n, n, 0.0f, SumOp{}, Identity{});
  if (threadIdx.x % 32 == 0) out[r] = mean ? p_div(s, static_cast<float>(n)) : s;
}

__global__ void softmax_kernel(const float* x, float* out, int64_t rows, int64_t n, bool log) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (r >= rows) return;
  const float* row = x + r * n;
  const float m = warp_reduce_row(row, n, -INFINITY, MaxOp{}, Identity{});
  const float s = warp_reduce_row(row, n, 0.0f, SumOp{}, ExpMinus{m});
  const float ls = p_log(s);
  for (int64_t i = threadIdx.x % 32; i < n; i += 32) {
    out[r * n + i] = log ? __fsub_rn(__fsub_rn(row[i], m), ls) : p_div(p_exp(__fsub_rn(row[i], m)), s);
  }
}

__global__ void rms_norm_kernel(const float* x, const float* w, float* out, int64_t rows, int64_t n, float eps) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (r >= rows) return;
  const float* row = x + r * n;
  const float ss = warp_reduce_row(row, n, 0.0f, SumOp{}, Square{});
  const float inv = p_rsqrt(__fadd_rn(p_div(ss, static_cast<float>(n)), eps));
  for (int64_t i = threadIdx.x % 32; i < n; i += 32) {
    const float v = __fmul_rn(row[i], inv);
    out[r * n + i] = w ? __fmul_rn(v, w[i]) : v;
  }
}

__global__ void unary_kernel(const float* x, float* out, int64_t n, int op) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  switch (op) {
    case kRsqrt: out[i] = p_rsqrt(v); break;
    case kSilu: out[i] = p_silu(v); break;
    case kSigmoid: out[i] = p_sigmoid(v); break;
    case kExp: out[i] = p_exp(v); break;
    default: out[i] = p_tanh(v); break;
  }
}

// One block per query row (b, h, i): scores in parallel over keys (each a dot product in d
// order), the max, then the probabilities; their sum and every output element run over the keys
// in order, as on the CPU.
__global__ void sdpa_kernel(const float* q, const float* k, const float* v, const float* mask, float* out,
                            int64_t Hq, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, bool causal,
                            float scale) {
  extern __shared__ float p[];   // Tk scores, then the block's max and sum
  __shared__ float red[32];
  const int64_t r = blockIdx.x;
  const int64_t i = r % Tq, h = (r / Tq) % Hq, b = r / (Tq * Hq);
  const int64_t hk = h / (Hq / Hkv);
  const float* qi = q + r * D;
  const float* kb = k + (b * Hkv + hk) * Tk * D;
  const float* vb = v + (b * Hkv + hk) * Tk * Dv;
  const float* mrow = mask ? mask + ((b * Hq + h) * Tq + i) * Tk : nullptr;
  float local_max = -INFINITY;
  for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x) {
    float s = -INFINITY;
    if (!(causal && j > i) && !(mrow && mrow[j] == -INFINITY)) {
      float acc = 0.0f;
      for (int64_t d = 0; d < D; ++d) acc = __fmaf_rn(qi[d], kb[j * D + d], acc);
      s = __fmul_rn(acc, scale);
      if (mrow) s = __fadd_rn(s, mrow[j]);
    }
    p[j] = s;
    local_max = MaxOp{}(local_max, s);
  }
  // The max is exact in any order.
  for (int off = 16; off > 0; off >>= 1) local_max = MaxOp{}(local_max, __shfl_xor_sync(0xffffffffu, local_max, off));
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = local_max;
  __syncthreads();
  float m = -INFINITY;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) m = MaxOp{}(m, red[w]);
  for (int64_t j = threadIdx.x; j < Tk; j += blockDim.x) p[j] = p[j] == -INFINITY ? 0.0f : p_exp(__fsub_rn(p[j], m));
  __syncthreads();
  __shared__ float l_shared;
  if (threadIdx.x == 0) {
    float l = 0.0f;
    for (int64_t j = 0; j < Tk; ++j) l = __fadd_rn(l, p[j]);
    l_shared = l;
  }
  __syncthreads();
  const float l = l_shared;
  for (int64_t d = threadIdx.x; d < Dv; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < Tk; ++j) {
      if (p[j] != 0.0f) acc = __fmaf_rn(p[j], vb[j * Dv + d], acc);
    }
    out[r * Dv + d] = l > 0.0f ? p_div(acc, l) : 0.0f;
  }
}

void check_gemm(const at::Tensor& a, const at::Tensor& b, const char* op) {
  check_fp32(a, op);
  check_fp32(b, op);
}

unsigned blocks(int64_t rows, int64_t per) { return static_cast<unsigned>((rows + per - 1) / per); }

}  // namespace

at::Tensor mm(const at::Tensor& a, const at::Tensor& b) {
  check_gemm(a, b, "mm");
  const c10::cuda::CUDAGuard guard(a.device());
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  at::Tensor c = at::empty({M, N}, a.options());
  if (K == 0) return c.zero_();
  gemm(a.data_ptr<float>(), a.stride(0), a.stride(1), b.data_ptr<float>(), b.stride(0), b.stride(1),
       c.data_ptr<float>(), N, M, N, K, nullptr, 0, 0, 0.0f, 1.0f);
  return c;
}

at::Tensor addmm(const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b, double beta, double alpha) {
  check_gemm(a, b, "addmm");
  check_fp32(bias, "addmm");
  const c10::cuda::CUDAGuard guard(a.device());
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  const at::Tensor bb = bias.expand({M, N});
  at::Tensor c = at::empty({M, N}, a.options());
  gemm(a.data_ptr<float>(), a.stride(0), a.stride(1), b.data_ptr<float>(), b.stride(0), b.stride(1),
       c.data_ptr<float>(), N, M, N, K, bb.data_ptr<float>(), bb.stride(0), bb.stride(1), static_cast<float>(beta),
       static_cast<float>(alpha));
  return c;
}

at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) {
  check_gemm(a, b, "bmm");
  const c10::cuda::CUDAGuard guard(a.device());
  const int64_t batch = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  at::Tensor c = at::empty({batch, M, N}, a.options());
  if (K == 0) return c.zero_();
  for (int64_t i = 0; i < batch; ++i) {
    gemm(a.data_ptr<float>() + i * a.stride(0), a.stride(1), a.stride(2), b.data_ptr<float>() + i * b.stride(0),
         b.stride(1), b.stride(2), c.data_ptr<float>() + i * M * N, N, M, N, K, nullptr, 0, 0, 0.0f, 1.0f);
  }
  return c;
}

at::Tensor sum_last(const at::Tensor& x, bool keepdim, bool mean) {
  check_fp32(x, mean ? "mean" : "sum");
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous();
  const int64_t n = x.dim() == 0 ? 1 : x.size(-1);
  const int64_t rows = n == 0 ? 0 : xc.numel() / n;
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  if (!shape.empty()) {
    if (keepdim) shape.back() = 1; else shape.pop_back();
  }
  at::Tensor out = at::empty(shape, x.options());
  if (n == 0) return out.fill_(mean ? std::numeric_limits<float>::quiet_NaN() : 0.0f);
  if (rows == 0) return out;
  sum_kernel<<<blocks(rows, kRowsPerBlock), 32 * kRowsPerBlock, 0, at::cuda::getCurrentCUDAStream()>>>(
      xc.data_ptr<float>(), out.data_ptr<float>(), rows, n, mean);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor softmax_last(const at::Tensor& x, bool log) {
  check_fp32(x, log ? "log_softmax" : "softmax");
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous();
  at::Tensor out = at::empty_like(xc);
  const int64_t n = x.dim() == 0 ? 1 : x.size(-1);
  const int64_t rows = n == 0 ? 0 : xc.numel() / n;
  if (rows == 0) return out;
  softmax_kernel<<<blocks(rows, kRowsPerBlock), 32 * kRowsPerBlock, 0, at::cuda::getCurrentCUDAStream()>>>(
      xc.data_ptr<float>(), out.data_ptr<float>(), rows, n, log);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor unary(const at::Tensor& x, int op) {
  check_fp32(x, "an elementwise op");
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous();
  at::Tensor out = at::empty_like(xc);
  const int64_t n = xc.numel();
  if (n == 0) return out;
  unary_kernel<<<blocks(n, 256), 256, 0, at::cuda::getCurrentCUDAStream()>>>(xc.data_ptr<float>(),
                                                                            out.data_ptr<float>(), n, op);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor rms_norm(const at::Tensor& x, const std::optional<at::Tensor>& weight, double eps) {
  check_fp32(x, "rms_norm");
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous();
  const int64_t n = x.size(-1);
  const int64_t rows = n == 0 ? 0 : xc.numel() / n;
  at::Tensor w;
  if (weight && weight->defined()) {
    check_fp32(*weight, "rms_norm");
    w = weight->contiguous();
  }
  at::Tensor out = at::empty_like(xc);
  if (rows == 0) return out;
  rms_norm_kernel<<<blocks(rows, kRowsPerBlock), 32 * kRowsPerBlock, 0, at::cuda::getCurrentCUDAStream()>>>(
      xc.data_ptr<float>(), w.defined() ? w.data_ptr<float>() : nullptr, out.data_ptr<float>(), rows, n,
      static_cast<float>(eps));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::optional<at::Tensor>& mask,
                bool is_causal, double scale) {
  for (const at::Tensor* t : {&q, &k, &v}) check_fp32(*t, "scaled_dot_product_attention");
  const c10::cuda::CUDAGuard guard(q.device());
  const int64_t D = q.size(-1), Tq = q.size(-2), Tk = k.size(-2), Hq = q.size(-3), Hkv = k.size(-3);
  TORCH_CHECK(Hq % Hkv == 0, "portable mode: query heads must be a multiple of key/value heads");
  const size_t shared = static_cast<size_t>(Tk) * sizeof(float);
  TORCH_CHECK(shared <= 160 * 1024, "portable mode: attention over ", Tk, " keys is more than this kernel holds");
  const at::Tensor qc = q.contiguous().view({-1, Hq, Tq, D});
  const at::Tensor kc = k.contiguous().view({-1, Hkv, Tk, D});
  const int64_t Dv = v.size(-1);
  const at::Tensor vc = v.contiguous().view({-1, Hkv, Tk, Dv});
  const int64_t B = qc.size(0);
  const at::Tensor add = additive_mask(mask, q, k);
  at::Tensor out = at::empty({B, Hq, Tq, Dv}, q.options());
  const int64_t rows = B * Hq * Tq;
  if (rows > 0) {
    if (shared > 48 * 1024) {
      C10_CUDA_CHECK(cudaFuncSetAttribute(sdpa_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(shared)));
    }
    sdpa_kernel<<<static_cast<unsigned>(rows), 128, shared, at::cuda::getCurrentCUDAStream()>>>(
        qc.data_ptr<float>(), kc.data_ptr<float>(), vc.data_ptr<float>(),
        add.defined() ? add.data_ptr<float>() : nullptr, out.data_ptr<float>(), Hq, Hkv, Tq, Tk, D, Dv, is_causal,
        static_cast<float>(scale));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end());
  shape.back() = Dv;
  return out.view(shape);
}

}  // namespace lockstep::kernels::portable::cuda

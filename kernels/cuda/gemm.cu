// Batch-invariant mm / addmm / bmm on CUDA.
//
// fp32, fp16 and bf16 run cuBLASLt with a pinned plan (cublaslt_pinned.h):
// the algorithms are chosen per (N, K, dtype, B layout) and proven to share
// one K reduction order, split-K is off, and the workspace size is fixed, so
// a row's bits never depend on M or on its neighbours. fp32 is true fp32
// (compute type 32F, TF32 excluded). Shapes no pinned algorithm serves, and
// float64, run gemm_fallback.cu, whose order is k = 0..K-1 per element.
//
// Operands of any strides: A must be row-major in memory with the alignment
// promised for its K (else it is copied, which never changes the algorithm:
// the promise is a function of K only); B keeps its layout when it is row-
// or column-major (weights are used in place) and is copied otherwise.
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/cuda/cublaslt_pinned.h"
#include "kernels/cuda/gemm_fallback.h"
#include "kernels/cuda/gemm_layout.h"
#include "kernels/cuda/ops.h"

namespace lockstep::kernels::cuda {
namespace {

void check_operands(const char* op, const at::Tensor& a, const at::Tensor& b) {
  TORCH_CHECK(a.is_cuda() && b.is_cuda(), op, ": operands must be CUDA tensors");
  TORCH_CHECK(a.device() == b.device(), op, ": operands on different devices");
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), op, ": dtype mismatch ", a.scalar_type(), " vs ",
              b.scalar_type());
  const at::ScalarType t = a.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kHalf || t == at::kBFloat16 || t == at::kDouble, op,
              ": unsupported dtype ", t);
}

// A 2-d operand is one matrix (batch 1); 3-d ones are [batch, rows, cols].
// Read straight from sizes and strides: the per-call views an unsqueeze or a
// select would make cost more host time than the rest of the call.
gemm::MatrixView view_of(const at::Tensor& t) {
  const int64_t d = t.dim() == 3 ? 1 : 0;
  gemm::MatrixView v;
  v.batch = d == 1 ? t.size(0) : 1;
  v.rows = t.size(d);
  v.cols = t.size(d + 1);
  v.batch_stride = d == 1 ? t.stride(0) : 0;
  v.row_stride = t.stride(d);
  v.col_stride = t.stride(d + 1);
  v.address = reinterpret_cast<uint64_t>(t.const_data_ptr());
  v.elem_bytes = static_cast<int64_t>(t.element_size());
  return v;
}

// out[b] = alpha * a[b] . b[b] + beta * c[b]; a [M, K] and b [K, N] (mm,
// addmm: out [M, N]) or a [batch, M, K] and b [batch, K, N] (bmm: out
// [batch, M, N]); `c` already broadcast to out's shape (or absent).
at::Tensor gemm3(const at::Tensor& a, const at::Tensor& b, const at::Tensor* c, double alpha, double beta,
                 bool batched) {
  const gemm::MatrixView av = view_of(a), bv = view_of(b);
  const int64_t batch = av.batch, M = av.rows, K = av.cols, N = bv.cols;
  TORCH_CHECK(bv.batch == batch && bv.rows == K, "gemm: shapes ", a.sizes(), " and ", b.sizes(),
              " cannot be multiplied");
  const c10::cuda::CUDAGuard guard(a.device());
  at::Tensor out = batched ? at::empty({batch, M, N}, a.options()) : at::empty({M, N}, a.options());
  const bool with_c = c != nullptr && beta != 0.0;  // beta == 0 ignores c entirely (nan included)
  if (with_c) out.copy_(*c);
  if (out.numel() == 0) return out;
  if (K == 0) {
    if (with_c) {
      out.mul_(beta);
    } else {
      out.zero_();
    }
    return out;
  }

  if (a.scalar_type() != at::kDouble) {
    at::Tensor a_use = a;
    gemm::AMapping am = gemm::map_a(av);
    if (!am.in_place) {
      a_use = a.clone(at::MemoryFormat::Contiguous);  // fresh, so aligned
      am = gemm::map_a(view_of(a_use));
      TORCH_INTERNAL_ASSERT(am.in_place, "gemm: contiguous copy of A not usable in place");
    }
    at::Tensor b_use = b;
    gemm::BMapping bm = gemm::map_b(bv);
    if (!bm.in_place) {
      b_use = b.clone(at::MemoryFormat::Contiguous);
      bm = gemm::map_b(view_of(b_use));
      TORCH_INTERNAL_ASSERT(bm.in_place, "gemm: contiguous copy of B not usable in place");
    }
    gemm::LtCall call;
    call.key.device = a.get_device();
    call.key.dtype = static_cast<int>(a.scalar_type());
    call.key.n = N;
    call.key.k = K;
    call.key.b_order = bm.order;
    call.key.b_ld = bm.ld;
    call.key.b_align = bm.align;
    call.key.with_c = with_c;
    call.key.batched = batched;
    call.key.alpha = static_cast<float>(alpha);
    call.key.beta = with_c ? static_cast<float>(beta) : 1.0f;
    call.m = M;
    call.batch = batch;
    call.a = a_use.const_data_ptr();
    call.a_ld = am.ld;
    call.a_batch_stride = am.batch_stride;
    call.b = b_use.const_data_ptr();
    call.b_batch_stride = bm.batch_stride;
    call.out = out.data_ptr();
    call.alpha = static_cast<float>(alpha);
    call.beta = with_c ? static_cast<float>(beta) : 0.0f;
    if (gemm::run_pinned(call)) return out;
  }
  at::Tensor out3 = batched ? out : out.unsqueeze(0);
  gemm::fallback_gemm(batched ? a : a.unsqueeze(0), batched ? b : b.unsqueeze(0), out3, alpha, beta, with_c);
  return out;
}

}  // namespace

at::Tensor mm(const at::Tensor& a, const at::Tensor& b) {
  check_operands("mm", a, b);
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected 2-d tensors, got ", a.sizes(), " and ", b.sizes());
  return gemm3(a, b, nullptr, 1.0, 0.0, false);
}

at::Tensor addmm(const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b, const at::Scalar& beta,
                 const at::Scalar& alpha) {
  check_operands("addmm", a, b);
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2, "addmm: expected 2-d tensors, got ", a.sizes(), " and ", b.sizes());
  TORCH_CHECK(bias.device() == a.device(), "addmm: bias on ", bias.device(), ", operands on ", a.device());
  const at::Tensor c = bias.expand({a.size(0), b.size(1)});
  return gemm3(a, b, &c, alpha.toDouble(), beta.toDouble(), false);
}

at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) {
  check_operands("bmm", a, b);
  TORCH_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-d tensors, got ", a.sizes(), " and ", b.sizes());
  return gemm3(a, b, nullptr, 1.0, 0.0, true);
}

}  // namespace lockstep::kernels::cuda

// Batch-invariant mm / addmm / bmm on the CPU: operand checks, layout,
// blocking, threads and ISA choice. The arithmetic, and with it the order
// that makes the result batch-invariant, lives in the micro-kernels
// (gemm_kernel.h defines THE ORDER). Nothing here can change an element's
// order: K is never split, and blocking only decides which thread computes
// a whole output element and with which tile shape.
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <type_traits>
#include <vector>

#include "kernels/cpu/gemm_kernel.h"
#include "kernels/cpu/ops.h"
#include "kernels/enum_names.h"
#ifdef LOCKSTEP_FAULT_INJECTION
#include "kernels/fault/fault_tensor.h"
#endif

namespace lockstep::kernels::cpu {
namespace gemm {

namespace {
bool cpu_has(Isa isa) {
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
  }
  return false;
}

Isa detect() {
  if (cpu_has(Isa::avx512)) return Isa::avx512;
  if (cpu_has(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

std::atomic<int> g_active{-1};  // -1: not chosen yet, use best_isa()
}  // namespace

Isa best_isa() {
  static const Isa best = detect();
  return best;
}

bool isa_supported(Isa isa) { return cpu_has(isa); }

const char* isa_name(Isa isa) {
  static constexpr Named<Isa> kNames[] = {{Isa::scalar, "scalar"}, {Isa::avx2, "avx2"}, {Isa::avx512, "avx512"}};
  return name_of(kNames, isa);
}

Isa active_isa() {
  const int chosen = g_active.load(std::memory_order_acquire);
  return chosen < 0 ? best_isa() : static_cast<Isa>(chosen);
}

Isa use_isa(Isa isa) {
  TORCH_CHECK(isa_supported(isa), "lockstep gemm: this CPU cannot run the ", isa_name(isa), " path");
  const Isa previous = active_isa();
  g_active.store(static_cast<int>(isa), std::memory_order_release);
  return previous;
}

}  // namespace gemm

namespace {

using gemm::Problem;

// A batch of problems that differ only by these element offsets.
struct Batch {
  Problem first;
  int64_t count = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

void run_block(gemm::Isa isa, const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  switch (isa) {
    case gemm::Isa::avx512: gemm::run_block_avx512(p, m0, m1, n0, n1); return;
    case gemm::Isa::avx2: gemm::run_block_avx2(p, m0, m1, n0, n1); return;
    case gemm::Isa::scalar: gemm::run_block_scalar(p, m0, m1, n0, n1); return;
  }
}

template <typename Ptr>
Ptr offset(Ptr base, int64_t elements, int64_t elem_size) {
  using Byte = std::conditional_t<std::is_const_v<std::remove_pointer_t<Ptr>>, const char, char>;
  return static_cast<Ptr>(static_cast<Byte*>(base) + elements * elem_size);
}

// bf16 blocks of at least this many rows run on fp32 copies of the A rows
// and the B panel (widening is exact, so the bits are the same): once per
// task it costs ~(MB + NB) / (MB * NB) of the products, while widening in
// the micro-kernel costs two instructions per load. Thinner blocks (decode,
// small batches) widen on the fly and read half the bytes; measured on the
// 2-core EPYC, on-the-fly was as fast or faster up to 32 rows, widening
// 0-10% faster for full 64-row blocks (M = 64 .. 512).
constexpr int64_t kWidenRows = 64;

void widen_rows(const void* src, int64_t ld, int64_t rows, int64_t K, std::vector<float>& dst) {
  dst.resize(static_cast<size_t>(rows * K));
  const auto* in = static_cast<const c10::BFloat16*>(src);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < K; ++k) dst[static_cast<size_t>(r * K + k)] = static_cast<float>(in[r * ld + k]);
  }
}

void run_task(gemm::Isa isa, const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (!p.in_bf16 || m1 - m0 < kWidenRows) {
    run_block(isa, p, m0, m1, n0, n1);
    return;
  }
  thread_local std::vector<float> a_wide, b_wide;
  widen_rows(offset(p.a, m0 * p.lda, 2), p.lda, m1 - m0, p.K, a_wide);
  widen_rows(offset(p.b, n0 * p.ldb, 2), p.ldb, n1 - n0, p.K, b_wide);
  const int64_t out_elem = p.out_bf16 ? 2 : 4;
  Problem q = p;  // the block [m0, m1) x [n0, n1) as a problem of its own
  q.in_bf16 = false;
  q.a = a_wide.data();
  q.lda = p.K;
  q.b = b_wide.data();
  q.ldb = p.K;
  q.c = offset(p.c, m0 * p.ldc + n0, out_elem);
  if (p.bias != nullptr) q.bias = offset(p.bias, m0 * p.bias_sm + n0 * p.bias_sn, out_elem);
  q.M = m1 - m0;
  q.N = n1 - n0;
  run_block(isa, q, 0, q.M, 0, q.N);
}

// Work is split into (batch, column block, row block) tasks, the row block
// fastest so one thread streams one panel of B (kept in L2) past many rows
// of A. Block sizes are chosen for speed and load balance only.
void run(const Batch& batch) {
  const Problem& p = batch.first;
  if (p.M == 0 || p.N == 0 || batch.count == 0) return;
  const int64_t in_elem = p.in_bf16 ? 2 : 4, out_elem = p.out_bf16 ? 2 : 4;
  const int64_t threads = at::get_num_threads();
  const int64_t row_block = 64;
  const int64_t row_blocks = (p.M + row_block - 1) / row_block;
  int64_t col_block = 256;
  while (col_block > 16 && col_block * p.K * 4 > (256 << 10)) col_block /= 2;
  auto col_blocks = [&] { return (p.N + col_block - 1) / col_block; };
  while (col_block > 16 && batch.count * row_blocks * col_blocks() < 16 * threads) col_block /= 2;
  const int64_t per_batch = row_blocks * col_blocks();
  const int64_t tasks = batch.count * per_batch;
  // Tiny products run on the calling thread: waking the pool costs more.
  const bool tiny = batch.count * p.M * p.N * p.K < (int64_t{1} << 15);
  const gemm::Isa isa = gemm::active_isa();

  at::parallel_for(0, tasks, tiny ? tasks : 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / per_batch, rest = t % per_batch;
      const int64_t m0 = (rest % row_blocks) * row_block, n0 = (rest / row_blocks) * col_block;
      Problem q = p;
      q.a = offset(p.a, b * batch.stride_a, in_elem);
      q.b = offset(p.b, b * batch.stride_b, in_elem);
      q.c = offset(p.c, b * batch.stride_c, out_elem);
      run_task(isa, q, m0, std::min(m0 + row_block, p.M), n0, std::min(n0 + col_block, p.N));
    }
  });
}

void check_operands(const char* op, const at::Tensor& a, const at::Tensor& b, int64_t dims) {
  TORCH_CHECK(a.device().is_cpu() && b.device().is_cpu(), op, ": expected CPU tensors");
  TORCH_CHECK(a.layout() == at::kStrided && b.layout() == at::kStrided, op, ": expected strided tensors");
  TORCH_CHECK(a.dim() == dims && b.dim() == dims, op, ": expected ", dims, "-D operands, got ", a.sizes(),
              " and ", b.sizes());
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), op, ": operands differ in dtype (", a.scalar_type(), " vs ",
              b.scalar_type(), ")");
  TORCH_CHECK(a.scalar_type() == at::kFloat || a.scalar_type() == at::kBFloat16, op,
              ": lockstep's CPU GEMM supports float32 and bfloat16, got ", a.scalar_type());
  TORCH_CHECK(a.size(-1) == b.size(-2), op, ": shapes ", a.sizes(), " and ", b.sizes(), " cannot be multiplied");
}

// True when `dim` steps by one element (or has at most one element, so the
// kernels never step along it).
bool unit_stride(const at::Tensor& t, int64_t dim) { return t.size(dim) <= 1 || t.stride(dim) == 1; }

// C = A @ Bt^T over the last two dims of a [.., M, K], bt [.., N, K] and the
// new c [.., M, N], each with unit stride along its last dim: the problem of
// one matrix, or of a batch's first.
Problem matrix_problem(const at::Tensor& a, const at::Tensor& bt, const at::Tensor& c) {
  const int64_t row = a.dim() - 2;  // the dim of M (of N in bt); K's follows it
  Problem p;
  p.in_bf16 = p.out_bf16 = a.scalar_type() == at::kBFloat16;
  p.a = a.const_data_ptr();
  p.b = bt.const_data_ptr();
  p.c = c.mutable_data_ptr();
  p.lda = a.stride(row);
  p.ldb = bt.stride(row);
  p.M = a.size(row);
  p.N = bt.size(row);
  p.K = a.size(row + 1);
  p.ldc = p.N;
  return p;
}

// C = alpha * (a @ b) + beta * bias for 2-D a [M,K], b [K,N].
at::Tensor gemm_2d(const at::Tensor& a_in, const at::Tensor& b_in, const at::Tensor* bias, float alpha,
                   float beta) {
  // A's rows and B's columns must run along k with unit stride. A linear
  // layer's weight W[N,K] arrives as the view W.t(), which already does.
  const at::Tensor a = unit_stride(a_in, 1) ? a_in : a_in.contiguous();
  const at::Tensor bt = unit_stride(b_in, 0) ? b_in.t() : b_in.t().contiguous();  // [N, K]
  const int64_t M = a.size(0), N = bt.size(0);
  at::Tensor c = at::empty({M, N}, a.options());
  at::Tensor bias_mn;
  Batch batch{matrix_problem(a, bt, c)};
  Problem& p = batch.first;
  p.alpha = alpha;
  p.beta = beta;
  if (bias != nullptr && beta != 0.0f) {
    bias_mn = bias->expand({M, N});
    p.bias = bias_mn.const_data_ptr();
    p.bias_sm = bias_mn.stride(0);
    p.bias_sn = bias_mn.stride(1);
  }
  run(batch);
  return c;
}

}  // namespace

at::Tensor mm(const at::Tensor& a, const at::Tensor& b) {
  check_operands("lockstep mm", a, b, 2);
#ifdef LOCKSTEP_FAULT_INJECTION
  if (const int64_t s = fault::gemm_k_splits(a.size(0), a.size(1)); s > 1) return fault::split_k(a, b, nullptr, 1.0f, 0.0f, s, gemm_2d);
#endif
  return gemm_2d(a, b, nullptr, 1.0f, 0.0f);
}

at::Tensor addmm(const at::Tensor& bias, const at::Tensor& a, const at::Tensor& b, const at::Scalar& beta,
                 const at::Scalar& alpha) {
  check_operands("lockstep addmm", a, b, 2);
  TORCH_CHECK(bias.device().is_cpu() && bias.scalar_type() == a.scalar_type(),
              "lockstep addmm: bias must be a CPU tensor of the operands' dtype");
  TORCH_CHECK(bias.dim() <= 2, "lockstep addmm: bias must broadcast to [M, N], got ", bias.sizes());
#ifdef LOCKSTEP_FAULT_INJECTION
  if (const int64_t s = fault::gemm_k_splits(a.size(0), a.size(1)); s > 1) return fault::split_k(a, b, &bias, alpha.to<float>(), beta.to<float>(), s, gemm_2d);
#endif
  return gemm_2d(a, b, &bias, alpha.to<float>(), beta.to<float>());
}

at::Tensor bmm(const at::Tensor& a_in, const at::Tensor& b_in) {
  check_operands("lockstep bmm", a_in, b_in, 3);
  TORCH_CHECK(a_in.size(0) == b_in.size(0), "lockstep bmm: batch sizes differ: ", a_in.sizes(), " and ",
              b_in.sizes());
  const at::Tensor a = unit_stride(a_in, 2) ? a_in : a_in.contiguous();
  const at::Tensor bt = unit_stride(b_in, 1) ? b_in.transpose(1, 2)
                                             : b_in.transpose(1, 2).contiguous();  // [B, N, K]
  const int64_t B = a.size(0), M = a.size(1), N = bt.size(1);
  at::Tensor c = at::empty({B, M, N}, a.options());
  Batch batch{matrix_problem(a, bt, c)};
  batch.count = B;
  batch.stride_a = a.stride(0);
  batch.stride_b = bt.stride(0);
  batch.stride_c = M * N;
  run(batch);
  return c;
}

}  // namespace lockstep::kernels::cpu

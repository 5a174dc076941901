// The CUDA side of kernels/token_choice.h. Per step, three launches:
//   make_keys: each logit's 64-bit key, row | choice::key | id from the most
//     significant bits down: unique, so the order rests on no stability;
//   one cub radix sort of the whole step's keys (the rows stay apart, each
//     in its own candidate order), over the bits in use;
//   pick_tokens, one block of threads a row: the live count (an integer
//   sum) and the weights in parallel, the running sums as choice:: defines
//   them (each thread a block of 256 sequentially, thread 0 the offsets),
//   then the first position past the draw (and past top_p) by a parallel
//   minimum over the monotone sums.
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <cub/device/device_radix_sort.cuh>

#include "kernels/token_choice.h"

namespace lockstep::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1024;   // blocks of choice::kBlock: vocabularies up to 262,144

__global__ void make_keys(const float* __restrict__ x, long long n, int id_bits, unsigned long long* __restrict__ keys,
                          int* __restrict__ nan_rows) {
  const long long r = blockIdx.x;
  const float* row = x + r * n;
  unsigned long long* out = keys + r * n;
  const unsigned long long high = static_cast<unsigned long long>(r) << (32 + id_bits);
  int nan = 0;
  for (long long i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = row[i];
    nan |= v != v;
    out[i] = high | (static_cast<unsigned long long>(choice::key(v)) << id_bits) | static_cast<unsigned long long>(i);
  }
  if (nan) atomicOr(nan_rows + r, 1);
}

// choice::running_sums' three steps over v[0, count) into out (in place allowed).
__device__ void running_sums(const double* v, long long count, double* out, double* totals, double* offsets) {
  const long long blocks = (count + choice::kBlock - 1) / choice::kBlock;
  for (long long b = threadIdx.x; b < blocks; b += blockDim.x) {
    totals[b] = choice::block_sums(v, b * choice::kBlock, min(count, (b + 1) * choice::kBlock), out);
  }
  __syncthreads();
  if (threadIdx.x == 0) choice::block_offsets(totals, blocks, offsets);
  __syncthreads();
  for (long long i = threadIdx.x; i < count; i += blockDim.x) out[i] = choice::running_sum(offsets, out, i);
  __syncthreads();
}

// The smallest i < count with pred(i), else `none` (pred holds from some i on).
template <class Pred>
__device__ long long first_where(long long count, long long none, long long* shared_min, Pred pred) {
  if (threadIdx.x == 0) *shared_min = none;
  __syncthreads();
  for (long long i = threadIdx.x; i < count; i += blockDim.x) {
    if (pred(i)) {
      atomicMin(reinterpret_cast<unsigned long long*>(shared_min), static_cast<unsigned long long>(i));
      break;   // this thread's later indices are larger
    }
  }
  __syncthreads();
  const long long found = *shared_min;
  __syncthreads();
  return found;
}

__global__ void pick_tokens(const float* __restrict__ x, long long n, unsigned long long id_mask,
                            const unsigned long long* __restrict__ sorted, const double* __restrict__ params,
                            const int* __restrict__ nan_rows, double* __restrict__ scratch, long long* __restrict__ out) {
  __shared__ double totals[kMaxBlocks], offsets[kMaxBlocks];
  __shared__ unsigned long long live_count;
  __shared__ long long found;
  const long long r = blockIdx.x;
  const float* row = x + r * n;
  const unsigned long long* order = sorted + r * n;
  const double* p = params + r * kChoiceParams;
  const auto id = [order, id_mask](long long i) { return static_cast<long long>(order[i] & id_mask); };
  const double temperature = p[0];
  const float top = row[id(0)];
  // Conditions of the whole row: every thread of the block leaves together.
  if (nan_rows[r] != 0 || (temperature != 0.0 && !isfinite(top))) {
    if (threadIdx.x == 0) out[r] = -1;
    return;
  }
  if (temperature == 0.0) {
    if (threadIdx.x == 0) out[r] = id(0);
    return;
  }
  const long long keep = choice::kept(n, p[1]);
  if (threadIdx.x == 0) live_count = 0;
  __syncthreads();
  double* w = scratch + 2 * r * n;   // the weights, then the top_p masses
  double* sums = w + n;
  unsigned long long mine = 0;
  for (long long i = threadIdx.x; i < keep; i += blockDim.x) {
    const float v = row[id(i)];
    if (choice::negligible(v, top, temperature)) continue;   // and so is every later one
    w[i] = choice::weight(v, top, temperature);
    ++mine;
  }
  if (mine != 0) atomicAdd(&live_count, mine);
  __syncthreads();
  const auto live = static_cast<long long>(live_count);
  running_sums(w, live, sums, totals, offsets);
  long long count = live;
  if (p[2] < 1.0) {
    const double top_p = p[2], total = sums[live - 1];
    for (long long i = threadIdx.x; i < live; i += blockDim.x) w[i] /= total;
    __syncthreads();
    running_sums(w, live, w, totals, offsets);
    count = min(live, first_where(live, live, &found, [w, top_p](long long i) { return w[i] >= top_p; }) + 1);
  }
  const double target = p[3] * sums[count - 1];   // choice::draw, in parallel
  const long long at = first_where(count, count - 1, &found, [sums, target](long long i) { return target < sums[i]; });
  if (threadIdx.x == 0) out[r] = id(at);
}

}  // namespace

at::Tensor choose_tokens_cuda(const at::Tensor& logits, const at::Tensor& params) {
  TORCH_CHECK(logits.is_cuda() && params.device() == logits.device(), "choose_tokens_cuda: tensors must be on one CUDA device");
  const c10::cuda::CUDAGuard guard(logits.device());
  const at::Tensor rows = logits.contiguous(), table = params.contiguous();
  const int64_t n_rows = rows.size(0), n = rows.size(1);
  TORCH_CHECK(n <= kMaxBlocks * choice::kBlock, "choose_tokens: at most ", kMaxBlocks * choice::kBlock, " logits a row");
  int id_bits = 0, row_bits = 0;
  while ((int64_t{1} << id_bits) < n) ++id_bits;
  while ((int64_t{1} << row_bits) < n_rows) ++row_bits;
  TORCH_CHECK(row_bits + 32 + id_bits <= 64, "choose_tokens: too many rows (", n_rows, ") for a row of ", n, " logits");
  at::Tensor out = at::empty({n_rows}, rows.options().dtype(at::kLong));
  if (n_rows == 0) return out;
  const auto stream = at::cuda::getCurrentCUDAStream();
  const auto opts = rows.options();
  at::Tensor keys = at::empty({n_rows * n}, opts.dtype(at::kLong)), sorted = at::empty_like(keys);
  at::Tensor nan_rows = at::zeros({n_rows}, opts.dtype(at::kInt));
  auto* keys_in = reinterpret_cast<unsigned long long*>(keys.data_ptr<int64_t>());
  auto* keys_out = reinterpret_cast<unsigned long long*>(sorted.data_ptr<int64_t>());
  make_keys<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(rows.const_data_ptr<float>(), n, id_bits, keys_in,
                                                                     nan_rows.data_ptr<int>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const int end_bit = row_bits + 32 + id_bits;
  size_t scratch_bytes = 0;
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, scratch_bytes, keys_in, keys_out, n_rows * n, 0, end_bit, stream));
  at::Tensor sort_scratch = at::empty({static_cast<int64_t>(scratch_bytes)}, opts.dtype(at::kByte));
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(sort_scratch.data_ptr(), scratch_bytes, keys_in, keys_out, n_rows * n, 0,
                                                end_bit, stream));
  at::Tensor scratch = at::empty({2 * n_rows * n}, opts.dtype(at::kDouble));
  pick_tokens<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(
      rows.const_data_ptr<float>(), n, (1ull << id_bits) - 1, keys_out, table.const_data_ptr<double>(),
      nan_rows.const_data_ptr<int>(), scratch.data_ptr<double>(), reinterpret_cast<long long*>(out.data_ptr<int64_t>()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace lockstep::kernels

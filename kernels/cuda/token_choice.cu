// The CUDA side of kernels/token_choice.h. Per step, three launches:
//   make_keys: each logit's 64-bit key (choice::key << 32 | id): unique, so
//     the order does not rest on the sort's stability;
//   cub's segmented radix sort of the keys, one segment a row, over the bits
//     that can differ (32 + bits of the largest id);
//   pick_tokens, one block a row: the weights of the live candidates in
//     parallel (choice::weight, into global scratch), the live count as an
//     integer sum, then thread 0 runs choice::pick, the host's sequential
//     double sums in candidate order.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/util/Exception.h>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <climits>

#include "kernels/token_choice.h"

namespace lockstep::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void make_keys(const float* __restrict__ x, long long n, unsigned long long* __restrict__ keys,
                          int* __restrict__ nan_rows) {
  const long long r = blockIdx.x;
  const float* row = x + r * n;
  unsigned long long* out = keys + r * n;
  int nan = 0;
  for (long long i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = row[i];
    nan |= v != v;
    out[i] = (static_cast<unsigned long long>(choice::key(v)) << 32) | static_cast<unsigned long long>(i);
  }
  if (nan) atomicOr(nan_rows + r, 1);
}

__global__ void pick_tokens(const float* __restrict__ x, long long n, const unsigned long long* __restrict__ sorted,
                            const double* __restrict__ params, const int* __restrict__ nan_rows,
                            double* __restrict__ weights, long long* __restrict__ out) {
  __shared__ unsigned long long live;
  const long long r = blockIdx.x;
  const float* row = x + r * n;
  const unsigned long long* order = sorted + r * n;
  const double* p = params + r * kChoiceParams;
  const auto id = [order](long long i) { return static_cast<long long>(order[i] & 0xffffffffull); };
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
  if (threadIdx.x == 0) live = 0;
  __syncthreads();
  double* w = weights + r * n;
  unsigned long long mine = 0;
  for (long long i = threadIdx.x; i < keep; i += blockDim.x) {
    const float v = row[id(i)];
    if (choice::negligible(v, top, temperature)) continue;   // and so is every later one
    w[i] = choice::weight(v, top, temperature);
    ++mine;
  }
  if (mine != 0) atomicAdd(&live, mine);
  __syncthreads();
  if (threadIdx.x == 0) out[r] = id(choice::pick(w, keep, static_cast<long long>(live), p[2], p[3]));
}

}  // namespace

at::Tensor choose_tokens_cuda(const at::Tensor& logits, const at::Tensor& params) {
  TORCH_CHECK(logits.is_cuda() && params.device() == logits.device(), "choose_tokens_cuda: tensors must be on one CUDA device");
  const c10::cuda::CUDAGuard guard(logits.device());
  const at::Tensor rows = logits.contiguous(), table = params.contiguous();
  const int64_t n_rows = rows.size(0), n = rows.size(1);
  TORCH_CHECK(n_rows * n <= INT_MAX, "choose_tokens: at most 2^31 - 1 logits a call");
  at::Tensor out = at::empty({n_rows}, rows.options().dtype(at::kLong));
  if (n_rows == 0) return out;
  const auto stream = at::cuda::getCurrentCUDAStream();
  const auto opts = rows.options();
  at::Tensor keys = at::empty({n_rows * n}, opts.dtype(at::kLong)), sorted = at::empty_like(keys);
  at::Tensor nan_rows = at::zeros({n_rows}, opts.dtype(at::kInt));
  make_keys<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(
      rows.const_data_ptr<float>(), n, reinterpret_cast<unsigned long long*>(keys.data_ptr<int64_t>()),
      nan_rows.data_ptr<int>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const at::Tensor offsets = at::arange(0, (n_rows + 1) * n, n, opts.dtype(at::kInt));
  int id_bits = 0;
  while ((int64_t{1} << id_bits) < n) ++id_bits;
  const auto* keys_in = reinterpret_cast<const unsigned long long*>(keys.const_data_ptr<int64_t>());
  auto* keys_out = reinterpret_cast<unsigned long long*>(sorted.data_ptr<int64_t>());
  const int* begin = offsets.const_data_ptr<int>();
  size_t scratch_bytes = 0;
  C10_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(nullptr, scratch_bytes, keys_in, keys_out, static_cast<int>(n_rows * n),
                                                         static_cast<int>(n_rows), begin, begin + 1, 0, 32 + id_bits, stream));
  at::Tensor scratch = at::empty({static_cast<int64_t>(scratch_bytes)}, opts.dtype(at::kByte));
  C10_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(scratch.data_ptr(), scratch_bytes, keys_in, keys_out,
                                                         static_cast<int>(n_rows * n), static_cast<int>(n_rows), begin,
                                                         begin + 1, 0, 32 + id_bits, stream));
  at::Tensor weights = at::empty({n_rows * n}, opts.dtype(at::kDouble));
  pick_tokens<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(
      rows.const_data_ptr<float>(), n, keys_out, table.const_data_ptr<double>(), nan_rows.const_data_ptr<int>(),
      weights.data_ptr<double>(), reinterpret_cast<long long*>(out.data_ptr<int64_t>()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace lockstep::kernels

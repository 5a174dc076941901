// The CPU side of kernels/token_choice.h: per row, candidate_order (an LSD
// radix sort), the weights of the live candidates, then choice::pick. Rows
// run in parallel; each row's arithmetic is its own.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/token_choice.h"

namespace lockstep::kernels {

std::vector<int32_t> candidate_order(const float* data, int64_t n) {
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::vector<uint32_t> key(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(data[i])) {
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return data[a] > data[b]; });
      return order;
    }
    key[static_cast<size_t>(i)] = choice::key(data[i]);
  }
  // Stable LSD passes of 11, 11 and 10 bits: equal keys keep id order.
  std::vector<int32_t> other(order.size());
  for (int shift : {0, 11, 22}) {
    const uint32_t mask = shift == 22 ? 0x3ffu : 0x7ffu;
    std::vector<int64_t> start(mask + 2, 0);
    for (int32_t id : order) ++start[((key[static_cast<size_t>(id)] >> shift) & mask) + 1];
    for (size_t d = 1; d < start.size(); ++d) start[d] += start[d - 1];
    for (int32_t id : order) other[static_cast<size_t>(start[(key[static_cast<size_t>(id)] >> shift) & mask]++)] = id;
    order.swap(other);
  }
  return order;
}

void running_sums(const double* v, int64_t n, double* out) {
  const int64_t blocks = (n + choice::kBlock - 1) / choice::kBlock;
  std::vector<double> totals(static_cast<size_t>(blocks)), offsets(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) {
    totals[b] = choice::block_sums(v, b * choice::kBlock, std::min(n, (b + 1) * choice::kBlock), out);
  }
  choice::block_offsets(totals.data(), blocks, offsets.data());
  for (int64_t i = 0; i < n; ++i) out[i] = choice::running_sum(offsets.data(), out, i);
}

namespace {

int64_t choose_row(const float* x, int64_t n, const ChoiceParams& p) {
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) nan |= std::isnan(x[i]);
  if (nan) return -1;
  if (p.temperature == 0.0) {   // the argmax, smallest id on a tie
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i) best = x[i] > x[best] ? i : best;
    return best;
  }
  const std::vector<int32_t> order = candidate_order(x, n);
  const float top = x[order[0]];
  if (!std::isfinite(top)) return -1;
  const int64_t keep = choice::kept(n, p.top_k);
  std::vector<double> w;
  for (int64_t i = 0; i < keep && !choice::negligible(x[order[i]], top, p.temperature); ++i) {
    w.push_back(choice::weight(x[order[i]], top, p.temperature));
  }
  const auto live = static_cast<int64_t>(w.size());
  std::vector<double> sums(w.size());
  running_sums(w.data(), live, sums.data());
  int64_t count = live;
  if (p.top_p < 1.0) {
    std::vector<double> mass(w.size());
    for (int64_t i = 0; i < live; ++i) mass[i] = w[i] / sums[live - 1];
    running_sums(mass.data(), live, mass.data());
    count = std::find_if(mass.begin(), mass.end(), [&](double m) { return m >= p.top_p; }) - mass.begin() + 1;
    count = std::min(count, live);
  }
  return order[choice::draw(sums.data(), count, p.uniform)];
}

}  // namespace

at::Tensor choose_tokens_cpu(const at::Tensor& logits, const at::Tensor& params) {
  TORCH_CHECK(logits.device().is_cpu() && params.device().is_cpu(), "choose_tokens_cpu: tensors must be on the CPU");
  const at::Tensor rows = logits.contiguous(), table = params.contiguous();
  const int64_t n_rows = rows.size(0), n = rows.size(1);
  at::Tensor out = at::empty({n_rows}, at::kLong);
  const float* x = rows.const_data_ptr<float>();
  const double* q = table.const_data_ptr<double>();
  int64_t* result = out.data_ptr<int64_t>();
  at::parallel_for(0, n_rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const double* c = q + r * kChoiceParams;
      result[r] = choose_row(x + r * n, n, ChoiceParams{c[0], c[1], c[2], c[3]});
    }
  });
  return out;
}

}  // namespace lockstep::kernels

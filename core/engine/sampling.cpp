#include "core/engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "kernels/argmax.h"

namespace lockstep {

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kMul0) * ctr[0];
    const uint64_t p1 = uint64_t(kMul1) * ctr[2];
    ctr = {uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], uint32_t(p1), uint32_t(p0 >> 32) ^ ctr[3] ^ key[1],
           uint32_t(p0)};
    key = {key[0] + kWeyl0, key[1] + kWeyl1};
  }
  return ctr;
}

double philox_uniform(uint64_t seed, uint64_t stream, uint64_t step) {
  const auto r = philox4x32_10({uint32_t(step), uint32_t(step >> 32), uint32_t(stream), uint32_t(stream >> 32)},
                               {uint32_t(seed), uint32_t(seed >> 32)});
  const uint64_t bits = (uint64_t(r[0]) << 21) ^ (uint64_t(r[1]) >> 11);   // 53 bits
  return double(bits & ((uint64_t(1) << 53) - 1)) * 0x1.0p-53;
}

std::vector<int32_t> candidate_order(const float* data, int64_t n) {
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::vector<uint32_t> key(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(data[i])) {
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return data[a] > data[b]; });
      return order;
    }
    const float x = data[i] == 0.0f ? 0.0f : data[i];   // -0 ties +0, as under `>`
    uint32_t bits = 0;
    std::memcpy(&bits, &x, sizeof bits);
    const uint32_t ascending = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
    key[static_cast<size_t>(i)] = ~ascending;   // descending logits as ascending keys
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

std::vector<int32_t> top_ids(const float* v, int64_t count, int64_t k) {
  auto before = [&](int32_t a, int32_t b) {
    const bool na = std::isnan(v[a]), nb = std::isnan(v[b]);
    if (na != nb) return nb;
    if (!na && v[a] != v[b]) return v[a] > v[b];
    return a < b;
  };
  std::vector<int32_t> best;
  if (k <= 0) return best;
  const auto n = static_cast<int32_t>(count);
  constexpr int32_t kChunk = 16;
  for (int32_t id0 = 0; id0 < n; id0 += kChunk) {
    const int32_t end = std::min(n, id0 + kChunk);
    // With the list full and its last entry a number t, a later id enters
    // only with a value above t (a tie goes to the earlier id; NaN ranks
    // last): most chunks are skipped after one vectorisable comparison.
    if (static_cast<int64_t>(best.size()) == k && !std::isnan(v[best.back()])) {
      const float t = v[best.back()];
      bool above = false;
      for (int32_t id = id0; id < end; ++id) above |= v[id] > t;
      if (!above) continue;
    }
    for (int32_t id = id0; id < end; ++id) {
      if (static_cast<int64_t>(best.size()) == k && !before(id, best.back())) continue;
      best.insert(std::upper_bound(best.begin(), best.end(), id, before), id);
      if (static_cast<int64_t>(best.size()) > k) best.pop_back();
    }
  }
  return best;
}

int32_t choose_token(const at::Tensor& logits, const SamplingOptions& options, uint64_t step) {
  if (options.temperature == 0.0) {
    return static_cast<int32_t>(kernels::argmax_smallest_index(logits).item<int64_t>());
  }
  const at::Tensor row = logits.contiguous();
  const float* data = row.data_ptr<float>();
  const int64_t n = row.numel();
  // Candidates ordered by logit, descending, ties by smaller id: a total
  // order, so top-k and top-p cut at well-defined places.
  const std::vector<int32_t> order = candidate_order(data, n);
  int64_t keep = n;
  if (options.top_k > 0) keep = std::min<int64_t>(keep, options.top_k);
  std::vector<double> weights(keep);
  const double max_logit = data[order[0]];
  double total = 0.0;
  for (int64_t i = 0; i < keep; ++i) {
    weights[i] = std::exp((double(data[order[i]]) - max_logit) / options.temperature);
    total += weights[i];
  }
  if (options.top_p < 1.0) {
    double cumulative = 0.0;
    int64_t cut = keep;
    for (int64_t i = 0; i < keep; ++i) {
      cumulative += weights[i] / total;
      if (cumulative >= options.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    total = std::accumulate(weights.begin(), weights.begin() + keep, 0.0);
  }
  const double target = philox_uniform(*options.seed, options.stream, step) * total;
  double cumulative = 0.0;
  for (int64_t i = 0; i < keep; ++i) {
    cumulative += weights[i];
    if (target < cumulative) return order[i];
  }
  return order[keep - 1];
}

}  // namespace lockstep

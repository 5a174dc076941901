#include "core/engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
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

kernels::ChoiceParams choice_params(const SamplingOptions& options, uint64_t step) {
  if (options.temperature == 0.0) return {};
  return {options.temperature, static_cast<double>(options.top_k), options.top_p,
          philox_uniform(*options.seed, options.stream, step)};
}

int32_t choose_token(const at::Tensor& logits, const SamplingOptions& options, uint64_t step) {
  if (options.temperature == 0.0) {
    return static_cast<int32_t>(kernels::argmax_smallest_index(logits).item<int64_t>());
  }
  const kernels::ChoiceParams p = choice_params(options, step);
  const at::Tensor params = at::tensor({p.temperature, p.top_k, p.top_p, p.uniform}, at::kDouble).view({1, -1});
  const int64_t token = kernels::choose_tokens_cpu(logits.reshape({1, -1}), params).item<int64_t>();
  if (token < 0) throw_unsampleable(step);
  return static_cast<int32_t>(token);
}

void throw_unsampleable(uint64_t step) {
  throw std::runtime_error("sampling: the logits of step " + std::to_string(step) +
                           " hold NaN, or their largest value is infinite: no distribution to sample from");
}

}  // namespace lockstep

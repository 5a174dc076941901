#include "kernels/sampling.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <numeric>
#include <vector>

namespace lockstep::kernels {
namespace {

constexpr uint32_t kMul1 = 0x7feb352du;  // both below 2^31: the CUDA path multiplies in int64
constexpr uint32_t kMul2 = 0x2c1b3c6du;
constexpr uint32_t kColumn = 0x68e31da4u;
constexpr uint32_t kSample = 0x1b873593u;
constexpr int64_t kMask = 0xffffffffLL;

uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= kMul1;
  x ^= x >> 15;
  x *= kMul2;
  x ^= x >> 16;
  return x;
}
uint32_t odd(uint32_t j) { return (mix(j + 0x9e3779b9u) >> 1) | 1u; }
double exponential(uint32_t h, uint32_t salt, uint32_t j) {
  const uint32_t x = mix(mix(h + salt) ^ (j * kColumn));
  const double u = (static_cast<double>(x >> 8) + 0.5) / 16777216.0;
  return -std::log(u);
}

void check_input(const at::Tensor& p, int64_t n, bool replacement) {
  TORCH_CHECK(p.dim() == 1 || p.dim() == 2, "multinomial: prob_dist must be 1 or 2 dim");
  TORCH_CHECK(at::isFloatingType(p.scalar_type()), "multinomial: prob_dist must be a floating point tensor");
  TORCH_CHECK(n > 0, "multinomial: cannot sample n_sample <= 0 samples");
  const int64_t v = p.size(-1);
  TORCH_CHECK(v > 0, "multinomial: prob_dist has no categories");
  TORCH_CHECK(replacement || n <= v, "multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement");
  TORCH_CHECK(v <= (int64_t{1} << 31), "multinomial: more than 2^31 categories");
}

// Two 31-bit integers from the generator, on the input's device: one fixed draw per call.
std::pair<uint32_t, uint32_t> call_key(const at::Tensor& p, const std::optional<at::Generator>& gen) {
  const at::Tensor k = at::randint(int64_t{1} << 31, {2}, gen, p.options().dtype(at::kLong)).cpu();
  return {static_cast<uint32_t>(k[0].item<int64_t>()), static_cast<uint32_t>(k[1].item<int64_t>())};
}

at::Tensor cpu_multinomial(const at::Tensor& p2, int64_t n, bool replacement, uint32_t k0, uint32_t k1) {
  const at::Tensor p = p2.to(at::kFloat).contiguous();
  const int64_t rows = p.size(0), v = p.size(1);
  at::Tensor out = at::empty({rows, n}, p.options().dtype(at::kLong));
  const float* pp = p.data_ptr<float>();
  int64_t* op = out.data_ptr<int64_t>();
  std::vector<std::string> errors(static_cast<size_t>(rows));
  at::parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) {
    std::vector<double> keys(static_cast<size_t>(v));
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = pp + r * v;
      uint32_t rowhash = 0;
      int64_t positive = 0;
      for (int64_t j = 0; j < v; ++j) {
        const float x = row[j];
        if (!std::isfinite(x) || x < 0.0f) {
          errors[static_cast<size_t>(r)] = "multinomial: probability tensor contains either `inf`, `nan` or element < 0";
          break;
        }
        positive += x > 0.0f;
        uint32_t bits;
        std::memcpy(&bits, &x, sizeof bits);
        rowhash += bits * odd(static_cast<uint32_t>(j));
      }
      if (!errors[static_cast<size_t>(r)].empty()) continue;
      if (positive == 0) {
        errors[static_cast<size_t>(r)] = "multinomial: invalid multinomial distribution (sum of probabilities <= 0)";
        continue;
      }
      if (!replacement && n > positive) {
        errors[static_cast<size_t>(r)] =
            "multinomial: invalid multinomial distribution (with replacement=False, not enough non-negative category to sample)";
        continue;
      }
      const uint32_t h = mix(mix(rowhash ^ k0) + k1);
      const int64_t draws = replacement ? n : 1;
      for (int64_t s = 0; s < draws; ++s) {
        const uint32_t salt = static_cast<uint32_t>(s) * kSample;
        for (int64_t j = 0; j < v; ++j) {
          keys[static_cast<size_t>(j)] =
              row[j] > 0.0f ? static_cast<double>(row[j]) / exponential(h, salt, static_cast<uint32_t>(j)) : 0.0;
        }
        if (replacement || n == 1) {
          op[r * n + s] = std::max_element(keys.begin(), keys.end()) - keys.begin();  // first of equals
        } else {
          std::vector<int64_t> order(static_cast<size_t>(v));
          std::iota(order.begin(), order.end(), 0);
          std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int64_t a, int64_t b) {
            return keys[a] != keys[b] ? keys[a] > keys[b] : a < b;
          });
          std::copy(order.begin(), order.begin() + n, op + r * n);
        }
      }
    }
  });
  for (const std::string& e : errors) TORCH_CHECK(e.empty(), e);
  return out;
}

// The same arithmetic as ATen ops (int64 holding 32-bit values, products below 2^63), for CUDA.
at::Tensor mix_t(at::Tensor x) {
  x = at::bitwise_xor(x, at::bitwise_right_shift(x, 16));
  x = at::bitwise_and(x * static_cast<int64_t>(kMul1), kMask);
  x = at::bitwise_xor(x, at::bitwise_right_shift(x, 15));
  x = at::bitwise_and(x * static_cast<int64_t>(kMul2), kMask);
  return at::bitwise_xor(x, at::bitwise_right_shift(x, 16));
}

at::Tensor device_multinomial(const at::Tensor& p2, int64_t n, bool replacement, uint32_t k0, uint32_t k1) {
  const at::Tensor p = p2.to(at::kFloat).contiguous();
  const int64_t v = p.size(1);
  TORCH_CHECK(at::isfinite(p).all().item<bool>() && (p >= 0).all().item<bool>(),
              "multinomial: probability tensor contains either `inf`, `nan` or element < 0");
  const at::Tensor positive = (p > 0).sum(1);
  TORCH_CHECK((positive > 0).all().item<bool>(), "multinomial: invalid multinomial distribution (sum of probabilities <= 0)");
  TORCH_CHECK(replacement || (positive >= n).all().item<bool>(),
              "multinomial: invalid multinomial distribution (with replacement=False, not enough non-negative category to sample)");
  const at::Tensor j = at::arange(v, p.options().dtype(at::kLong));
  const at::Tensor odd_j = at::bitwise_or(at::bitwise_right_shift(mix_t(at::bitwise_and(j + 0x9e3779b9LL, kMask)), 1), 1);
  const at::Tensor bits = at::bitwise_and(p.view(at::kInt).to(at::kLong), kMask);
  const at::Tensor rowhash = at::bitwise_and(at::bitwise_and(bits * odd_j, kMask).sum(1, true), kMask);
  const at::Tensor h = mix_t(at::bitwise_and(mix_t(at::bitwise_xor(rowhash, static_cast<int64_t>(k0))) + k1, kMask));
  const at::Tensor column = at::bitwise_and(j * static_cast<int64_t>(kColumn), kMask);
  const at::Tensor pd = p.to(at::kDouble);
  auto keys_for = [&](int64_t s) {
    const int64_t salt = static_cast<int64_t>(static_cast<uint32_t>(s) * kSample);
    const at::Tensor x = mix_t(at::bitwise_xor(mix_t(at::bitwise_and(h + salt, kMask)), column));
    const at::Tensor u = (at::bitwise_right_shift(x, 8).to(at::kDouble) + 0.5) / 16777216.0;
    return at::where(pd > 0, pd / -at::log(u), at::zeros_like(pd));
  };
  if (!replacement && n > 1) {
    // Stable descending sort: equal keys keep the smaller category first, as on the CPU.
    const at::Tensor order = std::get<1>(at::sort(keys_for(0), /*stable=*/true, /*dim=*/1, /*descending=*/true));
    return order.narrow(1, 0, n).contiguous();
  }
  std::vector<at::Tensor> samples;
  for (int64_t s = 0; s < n; ++s) samples.push_back(keys_for(s).argmax(1, true));
  return at::cat(samples, 1);
}

}  // namespace

at::Tensor invariant_multinomial(const at::Tensor& probs, int64_t num_samples, bool replacement,
                                 std::optional<at::Generator> generator) {
  check_input(probs, num_samples, replacement);
  const at::Tensor p2 = probs.dim() == 1 ? probs.unsqueeze(0) : probs;
  const auto [k0, k1] = call_key(probs, generator);
  at::Tensor out = probs.is_cpu() ? cpu_multinomial(p2, num_samples, replacement, k0, k1)
                                  : device_multinomial(p2, num_samples, replacement, k0, k1);
  return probs.dim() == 1 ? out.squeeze(0) : out;
}

}  // namespace lockstep::kernels

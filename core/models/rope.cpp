#include "core/models/rope.h"

#include <cmath>

#include "core/error.h"
#include "kernels/portable/math.h"

namespace lockstep {

std::vector<float> rope_inverse_frequencies(const ModelConfig& c, bool own_math) {
  const int64_t half = c.head_dim / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    inv[static_cast<size_t>(i)] =
        1.0 / (own_math ? kernels::portable::d_pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(c.head_dim))
                        : std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(c.head_dim)));
  }
  const RopeScaling& s = c.rope_scaling;
  if (s.type == "linear") {
    for (double& f : inv) f /= s.factor;
  } else if (s.type == "llama3") {
    // transformers' _compute_llama3_parameters: long wavelengths are divided
    // by `factor`, short ones kept, the band between interpolated.
    const double old_len = static_cast<double>(s.original_max_positions);
    const double low_wavelen = old_len / s.low_freq_factor;
    const double high_wavelen = old_len / s.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * M_PI / f;
      double scaled = wavelen > low_wavelen ? f / s.factor : f;
      if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
        const double smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        scaled = (1.0 - smooth) * scaled / s.factor + smooth * scaled;
      }
      f = scaled;
    }
  } else if (s.type != "none" && s.type != "default") {
    throw bad_input("RoPE scaling '" + s.type + "' is not supported (supported: linear, llama3)");
  }
  std::vector<float> out(inv.size());
  for (size_t i = 0; i < inv.size(); ++i) out[i] = static_cast<float>(inv[i]);
  return out;
}

std::pair<at::Tensor, at::Tensor> rope_tables(const ModelConfig& c, int64_t positions, bool own_math) {
  const std::vector<float> inv = rope_inverse_frequencies(c, own_math);
  const int64_t half = c.head_dim / 2;
  at::Tensor cos = at::empty({positions, c.head_dim}, at::kFloat);
  at::Tensor sin = at::empty({positions, c.head_dim}, at::kFloat);
  float* cos_out = cos.data_ptr<float>();
  float* sin_out = sin.data_ptr<float>();
  for (int64_t p = 0; p < positions; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inv[static_cast<size_t>(i)];
      double cd, sd;
      if (own_math) {
        kernels::portable::d_sincos(static_cast<double>(angle), &sd, &cd);
      } else {
        cd = std::cos(static_cast<double>(angle));
        sd = std::sin(static_cast<double>(angle));
      }
      const float cv = static_cast<float>(cd);
      const float sv = static_cast<float>(sd);
      cos_out[p * c.head_dim + i] = cos_out[p * c.head_dim + i + half] = cv;
      sin_out[p * c.head_dim + i] = sin_out[p * c.head_dim + i + half] = sv;
    }
  }
  return {cos, sin};
}

}  // namespace lockstep

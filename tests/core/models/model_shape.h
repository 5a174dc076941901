// A model's dimensions as one row to check: the config tests name a model's
// shape in one line instead of eight EXPECT_EQs. A field of 0 is not checked.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "core/models/model_config.h"

namespace lockstep::testing_support {

struct Shape {
  int64_t layers = 0, hidden = 0, ffn = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0, context = 0;
};

inline void expect_shape(const ModelConfig& c, const Shape& s) {
  const std::pair<const char*, std::pair<int64_t, int64_t>> fields[] = {
      {"n_layers", {s.layers, c.n_layers}}, {"hidden", {s.hidden, c.hidden}},
      {"ffn", {s.ffn, c.ffn}},              {"n_heads", {s.heads, c.n_heads}},
      {"n_kv_heads", {s.kv_heads, c.n_kv_heads}}, {"head_dim", {s.head_dim, c.head_dim}},
      {"vocab", {s.vocab, c.vocab}},        {"context", {s.context, c.context}}};
  for (const auto& [name, values] : fields) {
    if (values.first != 0) EXPECT_EQ(values.second, values.first) << name;
  }
}

}  // namespace lockstep::testing_support

// Activation digests of one request, to find where two runs of it part: the
// model hands the probe each op's output over the step's rows, and the probe
// keeps the SHA-256 of this request's row at every token position (its raw
// bytes, in the model's dtype). Two runs' probes are then compared token by
// token: the first position with any differing activation, and there the
// first op in the forward pass, is where the bits first moved (every earlier
// token's activations, its keys and values included, are equal).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace lockstep {

struct ActivationPoint {
  int64_t position = 0;   // token position in the sequence
  int64_t layer = 0;      // -1: embedding; n_layers: the final norm and logits
  std::string op;         // "attn_norm", "qkv", "q_rope", "attention", "o_proj", ...
  std::string expected_sha256, actual_sha256;   // "" where a run did not compute it
};

class ActivationProbe {
 public:
  // Positions after `last_position` are not hashed (the re-run stops caring there).
  explicit ActivationProbe(int64_t last_position) : last_(last_position) {}
  // `rows`: this request's rows of one op's output in a step, [t, ...], the
  // first at position `pos0`. Ops of one position must come in forward order.
  void record(int64_t layer, const char* op, const at::Tensor& rows, int64_t pos0);
  // The first (position, op) whose digests differ among those both probes
  // hashed; nullopt when every common one is equal.
  static std::optional<ActivationPoint> first_difference(const ActivationProbe& expected, const ActivationProbe& actual);
  size_t size() const { return digests_.size(); }

 private:
  struct Entry {
    int64_t layer = 0;
    std::string op;
    std::string sha256;
  };
  int64_t last_;
  std::map<int64_t, int64_t> next_op_;   // per position: index of its next op in the forward pass
  std::map<std::pair<int64_t, int64_t>, Entry> digests_;   // (position, op index) -> digest
};

}  // namespace lockstep

// Portable mode's reduction orders, shared by the CPU and CUDA kernels.
//
// Dot products (GEMM, attention scores, attention values): acc = +0, then
// acc = fma(a_k, b_k, acc) for k = 0, 1, ..., K-1, one rounding per step,
// in index order. Nothing is split, blocked or reordered along k.
//
// Row reductions (sum, mean, RMSNorm's sum of squares, softmax's max and
// sum): 32 lane partials, lane j = x_j + x_{j+32} + x_{j+64} + ... added
// left to right from +0, then a fixed pairwise tree: for off = 16, 8, 4, 2, 1,
// lane j (j < off) becomes lane j + lane j+off. A CUDA warp's xor-shuffle
// butterfly computes exactly this tree (IEEE addition is commutative, so lane
// j+off's copy of the pair sum has the same bits), and the CPU code spells it
// out; the result does not depend on anything but the row.
#pragma once

#include "kernels/portable/math.h"

namespace lockstep::kernels::portable {

inline constexpr int kLanes = 32;

struct SumOp {
  LS_HD float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {
  LS_HD float operator()(float a, float b) const { return b > a ? b : a; }
};

// The tree over 32 lane partials (CPU side; the CUDA side uses shuffles).
template <class Op>
LS_HD float combine_lanes(float* lanes, Op op) {
  for (int off = kLanes / 2; off > 0; off >>= 1) {
    for (int j = 0; j < off; ++j) lanes[j] = op(lanes[j], lanes[j + off]);
  }
  return lanes[0];
}

// A row of n elements `stride` apart, reduced in the portable order. `init` is the lanes'
// starting value (+0 for sums, -inf for max); map is applied to each element first.
template <class Op, class Map>
LS_HD float reduce_row(const float* x, long n, long stride, float init, Op op, Map map) {
  float lanes[kLanes];
  for (int j = 0; j < kLanes; ++j) lanes[j] = init;
  for (long i = 0; i < n; ++i) lanes[i % kLanes] = op(lanes[i % kLanes], map(x[i * stride]));
  return combine_lanes(lanes, op);
}

}  // namespace lockstep::kernels::portable

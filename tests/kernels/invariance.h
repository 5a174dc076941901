// The generic batch-invariance checker shared by every kernel test.
//
// An op maps a batch [M, ...] to outputs [M, ...] whose row i should depend
// on input row i only. check_rows_invariant() computes every row of a pool
// alone (a batch of one), then runs batches of M rows drawn at random from
// the pool (random order, repeats allowed, so each row has random
// co-batched rows and a random position) and demands that every output row
// has exactly the bits it had alone. A failure names the batch size, the
// row, the first differing element, both values and their ULP distance.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace lockstep::kernels::testing {

using RowOp = std::function<at::Tensor(const at::Tensor& batch)>;

// Signed-magnitude bits mapped onto a line where adjacent values of the
// format are 1 apart; +0 and -0 both map to 0.
inline int64_t ordered_bits(uint64_t bits, int width) {
  const uint64_t sign = uint64_t{1} << (width - 1);
  const int64_t magnitude = static_cast<int64_t>(bits & (sign - 1));
  return (bits & sign) ? -magnitude : magnitude;
}

// Distance in units in the last place of `dtype` between two values read
// from raw element bytes (float32, float64, bfloat16, float16).
inline int64_t ulp_distance(const void* a, const void* b, at::ScalarType dtype) {
  const int64_t size = static_cast<int64_t>(c10::elementSize(dtype));
  uint64_t x = 0, y = 0;
  std::memcpy(&x, a, static_cast<size_t>(size));
  std::memcpy(&y, b, static_cast<size_t>(size));
  const int width = static_cast<int>(size * 8);
  const int64_t d = ordered_bits(x, width) - ordered_bits(y, width);
  return d < 0 ? -d : d;
}

// "" when `got` and `want` have the same shape, dtype and bits; otherwise a
// description of the first differing element.
inline std::string first_bit_mismatch(const at::Tensor& got_in, const at::Tensor& want_in) {
  std::ostringstream why;
  if (got_in.sizes() != want_in.sizes() || got_in.scalar_type() != want_in.scalar_type()) {
    why << "shape/dtype differ: " << got_in.sizes() << " " << got_in.scalar_type() << " vs " << want_in.sizes()
        << " " << want_in.scalar_type();
    return why.str();
  }
  const at::Tensor got = got_in.cpu().contiguous(), want = want_in.cpu().contiguous();
  const int64_t size = static_cast<int64_t>(got.element_size());
  const char* g = static_cast<const char*>(got.const_data_ptr());
  const char* w = static_cast<const char*>(want.const_data_ptr());
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (std::memcmp(g + i * size, w + i * size, static_cast<size_t>(size)) == 0) continue;
    const at::Tensor flat_g = got.reshape({-1}), flat_w = want.reshape({-1});
    why.precision(9);
    why << "element " << i << ": " << flat_g[i].item<double>() << " vs " << flat_w[i].item<double>() << " ("
        << ulp_distance(g + i * size, w + i * size, got.scalar_type()) << " ulp)";
    return why.str();
  }
  return "";
}

inline ::testing::AssertionResult bits_equal(const at::Tensor& got, const at::Tensor& want) {
  const std::string why = first_bit_mismatch(got, want);
  if (why.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << why;
}

// See the file comment. `pool` is [P, ...]; batches of every size in `ms`
// are drawn from it with a generator seeded by `seed`.
inline ::testing::AssertionResult check_rows_invariant(const RowOp& op, const at::Tensor& pool,
                                                       const std::vector<int64_t>& ms, uint64_t seed = 1) {
  const int64_t P = pool.size(0);
  std::vector<at::Tensor> alone(static_cast<size_t>(P));
  for (int64_t r = 0; r < P; ++r) alone[static_cast<size_t>(r)] = op(pool.narrow(0, r, 1)).select(0, 0);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> pick(0, P - 1);
  for (int64_t M : ms) {
    std::vector<int64_t> rows(static_cast<size_t>(M));
    for (int64_t& r : rows) r = pick(rng);
    const at::Tensor index = at::tensor(rows, at::kLong).to(pool.device());
    const at::Tensor out = op(pool.index_select(0, index));
    if (out.size(0) != M) return ::testing::AssertionFailure() << "M=" << M << ": op returned " << out.sizes();
    for (int64_t i = 0; i < M; ++i) {
      const std::string why = first_bit_mismatch(out.select(0, i), alone[static_cast<size_t>(rows[i])]);
      if (!why.empty()) {
        return ::testing::AssertionFailure() << "M=" << M << ", row " << i << " (pool row " << rows[i]
                                             << ") differs from the same row computed alone: " << why;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

inline void expect_rows_invariant(const RowOp& op, const at::Tensor& pool, const std::vector<int64_t>& ms,
                                  uint64_t seed = 1) {
  EXPECT_TRUE(check_rows_invariant(op, pool, ms, seed));
}

// Accuracy: ||got - ref||_inf / ||ref||_inf, both taken in float64.
inline double relative_inf_error(const at::Tensor& got, const at::Tensor& ref) {
  const at::Tensor g = got.to(at::kDouble), r = ref.to(at::kDouble);
  const double scale = r.abs().max().item<double>();
  const double err = (g - r).abs().max().item<double>();
  return scale == 0.0 ? err : err / scale;
}

// The ragged batch sizes every invariance test sweeps (1 to 512).
inline const std::vector<int64_t>& ragged_batch_sizes() {
  static const std::vector<int64_t> ms = {1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 32, 33, 64, 100, 128, 255, 256, 257, 512};
  return ms;
}

// at::set_num_threads for a scope.
struct ThreadCount {
  explicit ThreadCount(int n) : saved(at::get_num_threads()) { at::set_num_threads(n); }
  ~ThreadCount() { at::set_num_threads(saved); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;
  int saved;
};

}  // namespace lockstep::kernels::testing

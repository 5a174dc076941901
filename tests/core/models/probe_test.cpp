// ActivationProbe: digests by (position, op in forward order); the first
// difference is at the earliest position, and there the earliest op.
#include "core/models/probe.h"

#include <gtest/gtest.h>

namespace lockstep {
namespace {

// Records ops "a" then "b" of layer 0 for positions 0..3 of x ([4, 2]).
void forward(ActivationProbe& p, const at::Tensor& a, const at::Tensor& b, int64_t pos0 = 0) {
  p.record(0, "a", a, pos0);
  p.record(0, "b", b, pos0);
}

TEST(ActivationProbe, FirstDifferenceIsTheEarliestPositionThenTheEarliestOp) {
  const at::Tensor a = at::arange(8, at::kFloat).view({4, 2});
  const at::Tensor b = a * 2;
  ActivationProbe solo(3), batch(3);
  forward(solo, a, b);
  at::Tensor a2 = a.clone(), b2 = b.clone();
  a2[3][0] = 100.0f;   // op a at position 3
  b2[2][1] = -1.0f;    // op b at position 2: earlier position, later op
  forward(batch, a2, b2);
  const auto d = ActivationProbe::first_difference(solo, batch);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->position, 2);
  EXPECT_EQ(d->op, "b");
  EXPECT_NE(d->expected_sha256, d->actual_sha256);
}

TEST(ActivationProbe, EqualRunsAndPositionsOnlyOneSideComputedAreNoDifference) {
  const at::Tensor a = at::arange(8, at::kFloat).view({4, 2});
  ActivationProbe solo(3), batch(3);
  forward(solo, a, a);
  // The batch run reused positions 0-1 (a shared prefix) and computed 2-3 in two chunks.
  forward(batch, a.narrow(0, 2, 1), a.narrow(0, 2, 1), 2);
  forward(batch, a.narrow(0, 3, 1), a.narrow(0, 3, 1), 3);
  EXPECT_FALSE(ActivationProbe::first_difference(solo, batch).has_value());
  // One bit in the last row: found, even though the row came in another chunk.
  ActivationProbe flipped(3);
  forward(flipped, a.narrow(0, 0, 3), a.narrow(0, 0, 3));
  at::Tensor last = a.narrow(0, 3, 1).clone();
  last.view(at::kInt).data_ptr<int32_t>()[1] ^= 1;
  forward(flipped, last, a.narrow(0, 3, 1), 3);
  const auto d = ActivationProbe::first_difference(solo, flipped);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->position, 3);
  EXPECT_EQ(d->op, "a");
}

TEST(ActivationProbe, PositionsPastTheLastAreNotHashed) {
  const at::Tensor a = at::zeros({4, 2});
  ActivationProbe probe(1);
  forward(probe, a, a);
  EXPECT_EQ(probe.size(), 4u);   // positions 0 and 1, two ops each
}

}  // namespace
}  // namespace lockstep

#include "harness/runs/fault_hook.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"

namespace lockstep::harness {
namespace {

TEST(FaultHook, ParsesTheTestOnlyForms) {
  EXPECT_FALSE(parse_fault("").has_value());
  const auto perturb = parse_fault("perturb-logit:run-2");
  ASSERT_TRUE(perturb.has_value());
  EXPECT_EQ(perturb->kind, Fault::Kind::perturb_logit);
  EXPECT_EQ(perturb->run_label, "run-2");
  EXPECT_EQ(describe(*perturb), "perturb-logit:run-2");
  const auto abort = parse_fault("abort:process-1");
  ASSERT_TRUE(abort.has_value());
  EXPECT_EQ(abort->kind, Fault::Kind::abort_worker);
  EXPECT_EQ(abort->run_label, "process-1");
  for (const char* bad : {"perturb-logit:", "perturb-logit", "explode:run-2", "run-2"}) {
    EXPECT_THROW(parse_fault(bad), Error) << bad;
  }
}

TEST(FaultHook, MovesTheFirstLargestLogitUpOneUlp) {
  at::Tensor logits = at::tensor({1.0f, 3.0f, -2.0f, 3.0f});
  perturb_largest_logit(logits);
  const float* v = logits.data_ptr<float>();
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], std::nextafter(3.0f, std::numeric_limits<float>::infinity()));
  EXPECT_GT(v[1], 3.0f);
  EXPECT_EQ(v[2], -2.0f);
  EXPECT_EQ(v[3], 3.0f);
}

TEST(FaultHook, ObserverTouchesOnlyStepZeroOfTheNamedRun) {
  const auto fault = parse_fault("perturb-logit:run-2");
  EXPECT_FALSE(fault_observer(fault, "run-1"));
  EXPECT_FALSE(fault_observer(fault, "process-1"));
  EXPECT_FALSE(fault_observer(std::nullopt, "run-2"));
  EXPECT_FALSE(fault_observer(parse_fault("abort:run-2"), "run-2"));
  const StepObserver observer = fault_observer(fault, "run-2");
  ASSERT_TRUE(observer);
  at::Tensor step1 = at::tensor({0.5f, 2.0f});
  observer(1, step1);
  EXPECT_EQ(step1.data_ptr<float>()[1], 2.0f);
  at::Tensor step0 = at::tensor({0.5f, 2.0f});
  observer(0, step0);
  EXPECT_GT(step0.data_ptr<float>()[1], 2.0f);
}

}  // namespace
}  // namespace lockstep::harness

// kernels/threads.h: freeing a thread's OpenMP team (what an engine does on
// the thread that loaded its model before its scheduler starts) leaves the
// kernels computing the same bits, on that thread and on a new one.
#include "kernels/threads.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <thread>

#include "kernels/cpu/ops.h"

namespace lockstep::kernels {
namespace {

TEST(Threads, ReleasingTheCallersTeamKeepsTheBits) {
  at::manual_seed(3);
  const at::Tensor x = at::randn({32, 576}), w = at::randn({1536, 576});
  const at::Tensor before = cpu::mm(x, w.t());  // runs on this thread's team (when there are 2+ threads)
  // kernels/ always compiles with -fopenmp (kernels/CMakeLists.txt)
  EXPECT_TRUE(release_thread_team()) << "libgomp refused omp_pause_resource_all";
  EXPECT_TRUE(at::equal(cpu::mm(x, w.t()), before)) << "this thread after the release";
  at::Tensor other;
  std::thread([&] { other = cpu::mm(x, w.t()); }).join();
  EXPECT_TRUE(at::equal(other, before)) << "a new thread, the team's only one";
  EXPECT_TRUE(release_thread_team()) << "a second release, with no team left, is a no-op";
}

}  // namespace
}  // namespace lockstep::kernels

#include "harness/runs/subprocess.h"

#include <gtest/gtest.h>

#include <csignal>

#include "core/error.h"
#include "expect_error.h"

namespace lockstep::harness {
namespace {

TEST(Subprocess, CapturesStdoutStderrAndExitCode) {
  const ProcessOutcome o = run_process({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(o.out, "out\n");
  EXPECT_EQ(o.err, "err\n");
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.signal, 0);
  EXPECT_FALSE(o.succeeded());
  EXPECT_EQ(o.status(), "exited with code 3");
}

TEST(Subprocess, ReportsASignal) {
  const ProcessOutcome o = run_process({"/bin/sh", "-c", "kill -ABRT $$"});
  EXPECT_EQ(o.signal, SIGABRT);
  EXPECT_FALSE(o.succeeded());
  EXPECT_NE(o.status().find("killed by signal 6"), std::string::npos) << o.status();
}

TEST(Subprocess, LargeOutputOnBothStreamsDoesNotDeadlock) {
  // 1 MiB on each stream: far beyond a pipe's buffer.
  const ProcessOutcome o =
      run_process({"/bin/sh", "-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; true"});
  EXPECT_TRUE(o.succeeded());
  EXPECT_EQ(o.out.size(), 1048576u);
  EXPECT_EQ(o.err.size(), kMaxStderr);   // only the tail is kept
}

TEST(Subprocess, StdinIsEmpty) {
  const ProcessOutcome o = run_process({"/bin/cat"});
  EXPECT_TRUE(o.succeeded());
  EXPECT_EQ(o.out, "");
}

TEST(Subprocess, MissingExecutableIsAnEnvironmentError) {
  testing::expect_error([] { run_process({"/nonexistent/program"}); }, ErrorKind::environment);
}

TEST(Subprocess, TailLines) {
  EXPECT_EQ(tail_lines("a\nb\nc\nd\n", 2), "c\nd");
  EXPECT_EQ(tail_lines("a\nb", 5), "a\nb");
  EXPECT_EQ(tail_lines("", 3), "");
  EXPECT_EQ(tail_lines("only\n\n", 1), "only");
}

}  // namespace
}  // namespace lockstep::harness

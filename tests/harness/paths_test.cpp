#include "harness/paths.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include "core/error.h"
#include "harness/atomic_file.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace lockstep::harness {
namespace {

TEST(Paths, ParentAndJoin) {
  EXPECT_EQ(parent_directory("a/b/c.json"), "a/b");
  EXPECT_EQ(parent_directory("c.json"), "");
  EXPECT_EQ(parent_directory("/c"), "/");
  EXPECT_EQ(parent_directory("a/b/"), "a");
  EXPECT_EQ(join_path("a", "b"), "a/b");
  EXPECT_EQ(join_path("a/", "b"), "a/b");
  EXPECT_EQ(join_path("", "b"), "b");
}

TEST(Paths, AbsolutePath) {
  EXPECT_EQ(absolute_path("/x/y"), "/x/y");
  const std::string a = absolute_path("./x");
  EXPECT_EQ(a.front(), '/');
  EXPECT_EQ(a.substr(a.size() - 2), "/x");
}

TEST(Paths, MakeDirectories) {
  const testing::TempDir dir;
  const std::vector<std::string> created = make_directories(dir / "a/b/c");
  EXPECT_EQ(created, (std::vector<std::string>{dir / "a", dir / "a/b", dir / "a/b/c"}));
  EXPECT_TRUE(make_directories(dir / "a/b/c").empty());   // existing is fine, and nothing new
  struct stat info {};
  ASSERT_EQ(::stat((dir / "a/b/c").c_str(), &info), 0);
  EXPECT_TRUE(S_ISDIR(info.st_mode));
  testing::write_file(dir / "f", "x");
  EXPECT_TRUE(is_regular_file(dir / "f"));
  EXPECT_FALSE(is_regular_file(dir / "a"));
  testing::expect_error([&] { make_directories(dir / "f/sub"); }, ErrorKind::environment);
}

TEST(AtomicFile, ReplacesContentsAndChecksWritability) {
  const testing::TempDir dir;
  write_file_atomically(dir / "x/out.txt", "one");
  write_file_atomically(dir / "x/out.txt", "two");
  EXPECT_EQ(testing::read_file(dir / "x/out.txt"), "two");
  EXPECT_EQ(testing::entries_in(dir / "x"), 1);
  EXPECT_NO_THROW(check_writable(dir / "x/new.txt"));
  EXPECT_EQ(testing::entries_in(dir / "x"), 1);   // the probe is gone
  // A missing directory is checked in its nearest existing ancestor, and not created.
  EXPECT_NO_THROW(check_writable(dir / "y/z/out.txt"));
  EXPECT_EQ(testing::entries_in(dir / "y"), -1);
  EXPECT_EQ(testing::entries_in(dir.path()), 1);
  testing::write_file(dir / "f", "x");
  EXPECT_THROW(check_writable(dir / "f/out.txt"), Error);
  EXPECT_THROW(check_writable(dir / "f/deeper/out.txt"), Error);
  // A directory where the file should go.
  testing::expect_error([&] { check_writable(dir.path() + "/x"); }, ErrorKind::environment, "it is a directory");
}

}  // namespace
}  // namespace lockstep::harness

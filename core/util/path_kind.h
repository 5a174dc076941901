// What a path names on disk, through one stat(2): the readers' "a folder or
// a file?" questions (std::filesystem is unsafe in binaries linked with
// libtorch, which exports its own copy of those symbols).
#pragma once

#include <sys/stat.h>

#include <string>

namespace lockstep {

enum class PathKind { missing, file, directory, other };

inline PathKind path_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return PathKind::missing;
  if (S_ISREG(st.st_mode)) return PathKind::file;
  return S_ISDIR(st.st_mode) ? PathKind::directory : PathKind::other;
}

}  // namespace lockstep

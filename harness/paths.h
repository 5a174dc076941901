// File-system helpers on plain POSIX calls. The harness avoids
// std::filesystem: libtorch.so exports its own copy of libstdc++'s
// filesystem symbols, which interpose on the system's and crash in some
// functions (std::filesystem::remove_all segfaults when linked with
// libtorch 2.11).
#pragma once

#include <string>
#include <vector>

namespace lockstep::harness {

// "a/b/c.json" -> "a/b"; "c.json" -> ""; "/c" -> "/".
std::string parent_directory(const std::string& path);

// "a" + "b" -> "a/b" (no doubled slash).
std::string join_path(const std::string& directory, const std::string& name);

// mkdir -p; environment_error naming `path` and the reason if it fails or a
// component is not a directory. Returns the directories it created, outermost first.
std::vector<std::string> make_directories(const std::string& path);

bool is_regular_file(const std::string& path);
bool is_directory(const std::string& path);

// Relative paths become absolute against the working directory ("." and
// ".." are kept; symbolic links are not resolved).
std::string absolute_path(const std::string& path);

}  // namespace lockstep::harness

// Whole-file writes that never leave a half-written file behind: the bytes go
// to a temporary file beside the target, which is then renamed over it (rename
// is atomic within one file system). Parent directories are created.
#pragma once

#include <string>
#include <string_view>

namespace lockstep::harness {

// environment_error if the directory cannot be created or the file written;
// then neither the temporary file nor a directory this call created is left.
void write_file_atomically(const std::string& path, std::string_view bytes);

// Creates `path`'s parent directories; environment_error if that fails (for
// example when a component is a regular file).
void ensure_parent_directory(const std::string& path);

// environment_error unless `path` could be written: it is not a directory,
// and a probe file can be created (and is removed again) in its parent, or,
// where the parent is missing, in the nearest existing ancestor (which must be
// a directory). Creates nothing: lets a command fail before it spends minutes
// on work it could not save, without leaving an empty directory behind.
void check_writable(const std::string& path);

}  // namespace lockstep::harness

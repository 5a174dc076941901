#include "harness/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "harness/paths.h"

namespace lockstep::harness {
void ensure_parent_directory(const std::string& path) { make_directories(parent_directory(path)); }

void check_writable(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    throw environment_error("cannot write '" + path + "': it is a directory");
  }
  // The nearest ancestor that exists: the parent, or where the first missing
  // directory would be created. Nothing is created here, so a command that
  // fails later (bad input) leaves no empty output directory behind.
  const std::string parent = parent_directory(path).empty() ? "." : parent_directory(path);
  std::string existing = parent;
  while (::stat(existing.c_str(), &info) != 0) {
    const int error = errno;
    const std::string up = parent_directory(existing).empty() ? "." : parent_directory(existing);
    if ((error != ENOENT && error != ENOTDIR) || up == existing) {
      throw environment_error("cannot write '" + path + "': " + existing + ": " + std::strerror(error));
    }
    existing = up;
  }
  if (!S_ISDIR(info.st_mode)) {
    throw environment_error("cannot create directory '" + parent + "': '" + existing + "' is not a directory");
  }
  // A probe file in it shows that the file (or the directory) can be created.
  const std::string probe = join_path(existing, ".lockstep-probe." + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const std::string reason = std::strerror(errno);
    if (existing != parent) throw environment_error("cannot create directory '" + parent + "': " + reason);
    throw environment_error("cannot write '" + path + "': " + reason);
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::vector<std::string> created = make_directories(parent_directory(path));
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  // A failed write leaves the disk as it was: no temporary file, and no
  // directory this call created (the innermost first).
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    for (auto it = created.rbegin(); it != created.rend(); ++it) ::rmdir(it->c_str());
    return environment_error("cannot write '" + path + "': " + what + ": " + reason);
  };
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw fail("open " + temp);
  const char* data = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      throw fail("write");
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  // fsync before rename: after a crash the target holds the old or the new
  // contents, never an empty file.
  if (::fsync(fd) != 0) {
    ::close(fd);
    throw fail("fsync");
  }
  if (::close(fd) != 0) throw fail("close");
  if (::rename(temp.c_str(), path.c_str()) != 0) throw fail("rename");
}

}  // namespace lockstep::harness

#include "harness/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace lockstep::harness {
namespace fs = std::filesystem;

void ensure_parent_directory(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec || !fs::is_directory(parent)) {
    throw environment_error("cannot create directory '" + parent.string() + "' for '" + path +
                            "': " + (ec ? ec.message() : "not a directory"));
  }
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  ensure_parent_directory(path);
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
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

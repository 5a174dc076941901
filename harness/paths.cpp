#include "harness/paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace lockstep::harness {

std::string parent_directory(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const size_t slash = trimmed.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return trimmed.substr(0, slash);
}

std::string join_path(const std::string& directory, const std::string& name) {
  if (directory.empty()) return name;
  return directory.back() == '/' ? directory + name : directory + "/" + name;
}

std::vector<std::string> make_directories(const std::string& path) {
  std::vector<std::string> created;
  if (path.empty()) return created;
  // Create each prefix in turn; an existing directory is fine, anything else
  // that exists (a regular file) is the error a user needs to see.
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const std::string prefix = path.substr(0, end);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0755) == 0) {
      created.push_back(prefix);
    } else if (!prefix.empty() && errno != EEXIST) {
      throw environment_error("cannot create directory '" + prefix + "': " + std::strerror(errno));
    }
    struct stat info {};
    if (!prefix.empty() && (::stat(prefix.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))) {
      throw environment_error("cannot create directory '" + path + "': '" + prefix + "' is not a directory");
    }
    if (end == std::string::npos) break;
  }
  return created;
}

bool is_regular_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

bool is_directory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

std::string absolute_path(const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  std::vector<char> buffer(4096);
  while (::getcwd(buffer.data(), buffer.size()) == nullptr) {
    if (errno != ERANGE) throw environment_error(std::string("cannot read the working directory: ") + std::strerror(errno));
    buffer.resize(buffer.size() * 2);
  }
  std::string relative = path;
  while (relative.rfind("./", 0) == 0) relative.erase(0, 2);
  return join_path(buffer.data(), relative);
}

}  // namespace lockstep::harness

// serve() of a build without cpp-httplib: says how to get it.
#include "core/error.h"
#include "harness/serve/server.h"

namespace lockstep::serve {

void block_shutdown_signals() {}

int serve(Service&, const ServerOptions&, const std::function<void(const std::string&)>&) {
  throw environment_error(
      "this lockstep was built without cpp-httplib, so it cannot serve HTTP: install it (Debian: apt-get install "
      "libcpp-httplib-dev), then configure and build again");
}

}  // namespace lockstep::serve

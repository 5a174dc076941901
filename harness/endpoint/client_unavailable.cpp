// EndpointClient of a build without cpp-httplib: says how to get it.
#include "core/error.h"
#include "harness/endpoint/client.h"

namespace lockstep::harness {
namespace {
[[noreturn]] void unavailable() {
  throw environment_error(
      "this lockstep was built without cpp-httplib, so it cannot talk to servers: install it (Debian: apt-get "
      "install libcpp-httplib-dev), then configure and build again");
}
}  // namespace

EndpointClient::EndpointClient(EndpointOptions options) : options_(std::move(options)) { unavailable(); }
ServerIdentity EndpointClient::identify() { unavailable(); }
EndpointAnswer EndpointClient::generate(const SuiteCase&, int64_t, const SamplingOptions&, bool) const { unavailable(); }

}  // namespace lockstep::harness

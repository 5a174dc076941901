#include "harness/env.h"

#ifdef LOCKSTEP_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

#include "harness/device_options.h"

#include "kernels/mode.h"

#include <sys/utsname.h>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <chrono>
#include <ctime>
#include <fstream>

#include <nlohmann/json.hpp>

#ifndef LOCKSTEP_VERSION
#define LOCKSTEP_VERSION "unknown"
#endif

namespace lockstep::harness {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  // "model name" on x86; aarch64 kernels report no model name, so fall back
  // to the first field that identifies the part.
  for (const char* key : {"model name", "Hardware", "CPU part"}) {
    in.clear();
    in.seekg(0);
    while (std::getline(in, line)) {
      if (line.rfind(key, 0) != 0) continue;
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      const auto start = line.find_first_not_of(" \t", colon + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "unknown";
}

std::string os_description() {
  struct utsname name {};
  if (uname(&name) != 0) return "unknown";
  return std::string(name.sysname) + " " + name.release + " " + name.machine;
}

std::string compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace

const char* lockstep_version() { return LOCKSTEP_VERSION; }

std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

Environment collect_environment() {
  Environment env;
  env.lockstep_version = lockstep_version();
  env.libtorch_version = libtorch_version();
  env.cuda_available = at::globalContext().hasCUDA();
  env.cpu_model = cpu_model();
  env.threads = at::get_num_threads();
  env.os = os_description();
  env.compiler = compiler();
  env.mode = kernels::mode_name(kernels::mode());
  return env;
}

std::string utc_timestamp_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

void to_json(nlohmann::ordered_json& out, const Environment& env) {
  out = nlohmann::ordered_json{{"lockstep_version", env.lockstep_version},
                       {"libtorch_version", env.libtorch_version},
                       {"cuda_available", env.cuda_available},
                       {"cpu_model", env.cpu_model},
                       {"threads", env.threads},
                       {"os", env.os},
                       {"compiler", env.compiler},
                       {"mode", env.mode},
                       {"device", env.device},
                       {"dtype", env.dtype}};
  if (!env.gpu_name.empty()) {
    out["gpu_name"] = env.gpu_name;
    out["compute_capability"] = env.compute_capability;
    out["cuda_driver"] = env.cuda_driver;
  }
  if (!env.server.empty()) out["server"] = env.server;
}

void from_json(const nlohmann::ordered_json& in, Environment& env) {
  env.lockstep_version = in.value("lockstep_version", "");
  env.libtorch_version = in.value("libtorch_version", "");
  env.cuda_available = in.value("cuda_available", false);
  env.cpu_model = in.value("cpu_model", "");
  env.threads = in.value("threads", 0);
  env.os = in.value("os", "");
  env.compiler = in.value("compiler", "");
  env.mode = in.value("mode", "");
  env.device = in.value("device", "cpu");
  env.dtype = in.value("dtype", "fp32");
  env.gpu_name = in.value("gpu_name", "");
  env.compute_capability = in.value("compute_capability", "");
  env.cuda_driver = in.value("cuda_driver", "");
  env.server = in.value("server", "");
}

void describe_device(Environment& env, const LoadOptions& load) {
  env.device = load.device.str();
  env.dtype = dtype_name(load.dtype);
#ifdef LOCKSTEP_WITH_CUDA
  if (load.device.is_cuda()) {
    const int index = load.device.has_index() ? load.device.index() : 0;
    cudaDeviceProp prop{};
    int driver = 0;
    if (cudaGetDeviceProperties(&prop, index) == cudaSuccess) {
      env.gpu_name = prop.name;
      env.compute_capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    }
    if (cudaDriverGetVersion(&driver) == cudaSuccess) {
      env.cuda_driver = std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10);
    }
  }
#endif
}

}  // namespace lockstep::harness

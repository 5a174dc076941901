// The environment fingerprint stored with every result: which lockstep,
// libtorch, compiler, CPU, thread count and OS produced the bits. Two results
// that differ are only comparable once their fingerprints are.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/models/decoder.h"

namespace lockstep::harness {

struct Environment {
  std::string lockstep_version;
  std::string libtorch_version;
  bool cuda_available = false;
  std::string cpu_model;
  int threads = 0;              // at::get_num_threads()
  std::string os;               // uname: sysname release machine
  std::string compiler;
  std::string mode;             // kernels::mode() when collected
  std::string device = "cpu";   // where the model ran: cpu, cuda:0, ...
  std::string dtype = "fp32";
  std::string gpu_name;         // CUDA only: device name, compute capability, driver
  std::string compute_capability;
  std::string cuda_driver;
  // verify --endpoint: the server that answered (URL, /v1/models id, the
  // headers that name it); empty for in-process runs.
  std::string server;
};

const char* lockstep_version();   // LOCKSTEP_VERSION, e.g. "0.1.0"
std::string libtorch_version();   // from <torch/version.h>, e.g. "2.11.0"

Environment collect_environment();

// Records where and in which precision the model runs (and, on CUDA, the
// GPU's name, compute capability and driver version).
void describe_device(Environment& env, const LoadOptions& load);

// "2024-11-23T10:57:03Z": now, UTC, ISO-8601 to the second.
std::string utc_timestamp_now();

void to_json(nlohmann::ordered_json& out, const Environment& env);
void from_json(const nlohmann::ordered_json& in, Environment& env);

}  // namespace lockstep::harness

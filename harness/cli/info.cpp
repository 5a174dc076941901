// `lockstep info`: the environment fingerprint a proof records (harness/env.h),
// plus what decides whether two machines can produce the same bits: the CPU's
// vector flags, the CUDA runtime and cuBLAS versions, every GPU, libtorch, the
// kernel modes this build has and the default model. A table, or --json.
#include <dlfcn.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <ATen/Context.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "harness/cli/command.h"
#include "harness/cli/exit_codes.h"
#include "harness/device_options.h"
#include "harness/env.h"
#include "harness/model_source.h"
#include "harness/paths.h"
#include "kernels/registered.h"

namespace lockstep::cli {
namespace {

using json = nlohmann::ordered_json;

// The CPU flags that change which kernel paths run (and so, in stock mode, the bits).
std::vector<std::string> cpu_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0 && line.rfind("Features", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::vector<std::string> kept;
    for (std::string w; words >> w;) {
      for (const char* f : {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
                            "avx512_fp16", "amx_tile", "amx_bf16", "asimd", "sve", "sve2", "bf16"}) {
        if (w == f) kept.push_back(w);
      }
    }
    return kept;
  }
  return {};
}

// A symbol of a library libtorch has already loaded (libcudart, libcublasLt), if any.
template <class F>
F* loaded_symbol(const char* name) {
  return reinterpret_cast<F*>(dlsym(RTLD_DEFAULT, name));
}

json gpus() {
  json list = json::array();
  using Count = int(int*);
  auto* count = loaded_symbol<Count>("cudaGetDeviceCount");
  int n = 0;
  if (count == nullptr || count(&n) != 0) return list;
  for (int i = 0; i < n; ++i) {
    harness::Environment env;
    harness::describe_device(env, harness::parse_load_options("cuda:" + std::to_string(i), "bf16"));
    list.push_back({{"index", i}, {"name", env.gpu_name}, {"compute_capability", env.compute_capability},
                    {"driver", env.cuda_driver}});
  }
  return list;
}

std::string version_of(const char* symbol) {
  using IntVersion = int(int*);
  if (std::string(symbol) == "cublasLtGetVersion") {
    using SizeVersion = size_t();
    auto* f = loaded_symbol<SizeVersion>(symbol);
    if (f == nullptr) return "";
    const size_t v = f();
    return fmt::format("{}.{}.{}", v / 10000, v / 100 % 100, v % 100);
  }
  auto* f = loaded_symbol<IntVersion>(symbol);
  int v = 0;
  if (f == nullptr || f(&v) != 0) return "";
  return fmt::format("{}.{}", v / 1000, v % 1000 / 10);
}

struct InfoOptions {
  bool json = false;
};

int info(const InfoOptions& o) {
  const harness::Environment env = harness::collect_environment();
  std::string model;
  try {
    model = harness::resolve_model_path("");
  } catch (const std::exception& e) {
    model = std::string("(none: ") + e.what() + ")";
  }
  json doc = {{"schema", "lockstep.info/0"},
              {"environment", env},
              {"cpu_flags", cpu_flags()},
              {"cuda_runtime", version_of("cudaRuntimeGetVersion")},
              {"cublaslt", version_of("cublasLtGetVersion")},
              {"gpus", gpus()},
              {"modes", {"off", "batch_invariant", "portable"}},
              {"invariant_overloads", kernels::registered_overloads()},
              {"default_model", model}};
  if (o.json) {
    std::cout << doc.dump(2) << "\n";
    return kOk;
  }
  std::cout << fmt::format("lockstep {} (libtorch {}, {})\n", env.lockstep_version, env.libtorch_version, env.compiler);
  std::cout << fmt::format("os:            {}\ncpu:           {} ({} threads)\ncpu flags:     {}\n", env.os, env.cpu_model,
                           env.threads, fmt::join(doc["cpu_flags"].get<std::vector<std::string>>(), " "));
  std::cout << fmt::format("cuda runtime:  {}\ncublasLt:      {}\n", doc["cuda_runtime"].get<std::string>().empty() ? "-" : doc["cuda_runtime"].get<std::string>(),
                           doc["cublaslt"].get<std::string>().empty() ? "-" : doc["cublaslt"].get<std::string>());
  if (doc["gpus"].empty()) std::cout << "gpus:          none\n";
  for (const json& g : doc["gpus"]) {
    std::cout << fmt::format("gpu {}:         {} (sm {}, driver {})\n", g["index"].get<int>(), g["name"].get<std::string>(),
                             g["compute_capability"].get<std::string>(), g["driver"].get<std::string>());
  }
  std::cout << "modes:         off, batch_invariant, portable\n";
  std::cout << "default model: " << model << "\n";
  return kOk;
}

}  // namespace

Command add_info_command(CLI::App& parent) {
  const char* about =
      "Print the environment fingerprint a proof records: CPU and flags, GPUs, driver, CUDA, cuBLAS, libtorch, modes.";
  return options_command<InfoOptions>(parent, "info", about, info, [](CLI::App* app, InfoOptions& o) {
    app->add_flag("--json", o.json, "Print lockstep.info/0 JSON instead of the table");
  });
}

}  // namespace lockstep::cli

// `lockstep scan`: which aten ops a model runs and whether batch_invariant
// mode covers each (harness/scan.h) — for lockstep's own model, or for a
// TorchScript module a user brings.
#include <torch/script.h>

#include <iostream>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/engine/model_bundle.h"
#include "core/error.h"
#include "harness/runs/case_runner.h"
#include "harness/cli/command.h"
#include "harness/cli/exit_codes.h"
#include "harness/model_source.h"
#include "harness/paths.h"
#include "harness/scan.h"
#include "kernels/mode.h"

namespace lockstep::cli {
namespace {

struct ScanOptions {
  std::string model;
  std::string prompt = "Hello, how are you?";
  int64_t max_new_tokens = 2;
  std::string torchscript;
  std::vector<int64_t> input_shape = {1, 8, 64};
  std::string dtype = "float32";
  bool json = false;
};

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "int64") return at::kLong;
  throw bad_input("--dtype must be float32, bfloat16 or int64, got '" + name + "'");
}

int scan(const ScanOptions& o) {
  const kernels::ModeGuard mode(kernels::Mode::batch_invariant);
  std::string target;
  std::function<void()> work;
  std::shared_ptr<torch::jit::Module> module;
  std::shared_ptr<const ModelBundle> bundle;
  if (!o.torchscript.empty()) {
    if (!harness::is_regular_file(o.torchscript)) throw bad_input(o.torchscript + ": no such file");
    for (int64_t d : o.input_shape) {
      if (d < 1) throw bad_input("--input-shape dimensions must be positive");
    }
    const at::ScalarType dtype = parse_dtype(o.dtype);
    try {
      module = std::make_shared<torch::jit::Module>(torch::jit::load(o.torchscript, c10::Device(c10::kCPU)));
    } catch (const c10::Error& e) {
      throw bad_input(o.torchscript + ": not a loadable TorchScript module (" + e.what_without_backtrace() + ")");
    }
    module->eval();
    target = o.torchscript;
    // Made before the recorder starts, so its ops are not the module's.
    const at::Tensor input = dtype == at::kLong ? at::randint(0, 100, o.input_shape, at::kLong)
                                                : at::randn(o.input_shape, at::TensorOptions().dtype(dtype));
    work = [&, input] {
      const c10::InferenceMode inference;
      try {
        module->forward({input});
      } catch (const std::exception& e) {
        std::string why = e.what();
        why = why.substr(0, why.find('\n', why.find("Error:") == std::string::npos ? 0 : why.find("Error:")));
        throw bad_input(o.torchscript + ": forward failed on an input of shape " + c10::str(input.sizes()) + " " +
                        o.dtype + " (" + why + "); set --input-shape and --dtype");
      }
    };
  } else {
    const std::string path = harness::resolve_model_path(o.model);
    bundle = ModelBundle::load(path);
    target = path;
    work = [&] {
      harness::SuiteCase c{"scan", o.prompt, o.max_new_tokens, true, 0};
      harness::run_case(*bundle, c);
    };
  }
  const std::vector<harness::ScannedOp> ops = harness::scan_ops(work);
  int64_t uncovered = 0;
  for (const harness::ScannedOp& op : ops) uncovered += op.coverage == "uncovered";
  if (o.json) {
    std::cout << harness::scan_to_json(ops, target).dump(2) << "\n";
  } else {
    std::cout << fmt::format("{:<44} {:>7}  {:<10} {}\n", "op", "calls", "coverage", "note");
    for (const harness::ScannedOp& op : ops) {
      std::cout << fmt::format("{:<44} {:>7}  {:<10} {}\n", op.name, op.calls, op.coverage, op.note);
    }
  }
  std::cerr << fmt::format("scan: {}: {} ops, {} uncovered in batch_invariant mode\n", target, ops.size(), uncovered);
  return uncovered == 0 ? kOk : kDiverged;
}

}  // namespace

Command add_scan_command(CLI::App& parent) {
  const char* about = "List the aten ops a model runs and which lack invariant kernels.";
  return options_command<ScanOptions>(parent, "scan", about, scan, [](CLI::App* app, ScanOptions& o) {
    app->footer(
        "Runs the model once in batch_invariant mode with an op recorder. Each op is 'invariant' (lockstep's kernel), "
        "'composite' (decomposes into the others listed), 'exact' (elementwise or data movement: the batch cannot "
        "change its bits) or 'uncovered' (its bits may depend on the batch).\n"
        "Exit codes: 0 every op covered, 1 some op uncovered, 2 bad input, 3 environment.");
    app->add_option("--model", o.model, kModelHelp);
    app->add_option("--prompt", o.prompt, "Prompt for lockstep's model")->capture_default_str();
    app->add_option("--max-new-tokens", o.max_new_tokens, "Tokens to generate (prefill and decode)")
        ->capture_default_str();
    auto* ts = app->add_option("--torchscript", o.torchscript, "A TorchScript module (torch.jit.save) instead");
    app->add_option("--input-shape", o.input_shape, "Its input's shape, e.g. 1,8,64")->delimiter(',')->needs(ts);
    app->add_option("--dtype", o.dtype, "Its input's dtype: float32, bfloat16 or int64")->needs(ts)->capture_default_str();
    app->add_flag("--json", o.json, "Print lockstep.scan/0 JSON instead of the table");
  });
}

}  // namespace lockstep::cli

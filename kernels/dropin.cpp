// The lockstep:: ops the Python package needs besides the mode switch (register.cpp):
//   - batch_invariant_ops' functions (matmul_persistent, log_softmax, mean_dim): lockstep's
//     kernel called directly, batch-invariant whatever the mode, an error (not a stock kernel)
//     where the kernel does not take the arguments;
//   - coverage: the overloads the kernels replace, the class of any op (kernels/coverage.h) and a
//     recorder of the ops a piece of Python runs, for lockstep_kernels.covered_ops() / check().
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/coverage.h"
#include "kernels/cpu/ops.h"
#include "kernels/registered.h"
#include "kernels/splits.h"
#ifdef LOCKSTEP_WITH_CUDA
#include "kernels/cuda/ops.h"
#endif

namespace lockstep::kernels {
namespace {

// Numbers go into messages through std::to_string, never an ostream: inside some Python processes
// (the GPU image) iostream number formatting in this library crashes (ci/GPU.md, 2026-11-23).
std::string num(int64_t x) { return std::to_string(x); }
// TORCH_CHECK with one ready string (several arguments would be joined through an ostream); the
// callers build the message only when a check fails.
[[noreturn]] void fail(const std::string& message) { TORCH_CHECK(false, message); }
std::string shape(at::IntArrayRef sizes) {
  std::string out = "[";
  for (size_t i = 0; i < sizes.size(); ++i) out += (i ? ", " : "") + num(sizes[i]);
  return out + "]";
}

void check_tensor(const at::Tensor& t, const char* what) {
  if (t.layout() != at::kStrided) fail(std::string(what) + ": lockstep's kernels take dense tensors");
  const at::ScalarType s = t.scalar_type();
  const bool ok = s == at::kFloat || s == at::kBFloat16 || (t.is_cuda() && s == at::kHalf);
  if (!ok) {
    fail(std::string(what) + ": lockstep's kernels take float32 or bfloat16 (and float16 on CUDA), got " +
         c10::toString(s));
  }
  if (!t.is_cpu() && !t.is_cuda()) {
    fail(std::string(what) + ": lockstep's kernels run on the CPU or CUDA, got " + t.device().str());
  }
#ifndef LOCKSTEP_WITH_CUDA
  if (!t.is_cpu()) fail(std::string(what) + ": this build of lockstep's kernels has no CUDA kernels");
#endif
}

at::Tensor matmul_persistent(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& bias) {
  if (a.dim() != 2 || b.dim() != 2) {
    fail("matmul_persistent: a and b must be 2-D, got " + num(a.dim()) + "-D and " + num(b.dim()) + "-D");
  }
  if (a.size(1) != b.size(0)) {
    fail("matmul_persistent: incompatible dimensions " + shape(a.sizes()) + " @ " + shape(b.sizes()));
  }
  if (a.scalar_type() != b.scalar_type()) fail("matmul_persistent: incompatible dtypes");
  if (a.device() != b.device()) fail("matmul_persistent: a and b are on different devices");
  check_tensor(a, "matmul_persistent");
  const bool with_bias = bias.has_value() && bias->defined();
  if (with_bias) {
    if (bias->dim() != 1 || bias->size(0) != b.size(1)) fail("matmul_persistent: bias must be 1-D of size " + num(b.size(1)));
    if (bias->scalar_type() != a.scalar_type() || bias->device() != a.device()) {
      fail("matmul_persistent: bias must have a's dtype and device");
    }
  }
#ifdef LOCKSTEP_WITH_CUDA
  if (a.is_cuda()) return with_bias ? cuda::addmm(*bias, a, b, 1, 1) : cuda::mm(a, b);
#endif
  return with_bias ? cpu::addmm(*bias, a, b, 1, 1) : cpu::mm(a, b);
}

at::Tensor log_softmax(const at::Tensor& x, int64_t dim) {
  if (x.dim() == 0 || (dim != -1 && dim != x.dim() - 1)) {
    fail("log_softmax: lockstep's log_softmax is over the last dimension only");
  }
  check_tensor(x, "log_softmax");
#ifdef LOCKSTEP_WITH_CUDA
  if (x.is_cuda()) return cuda::log_softmax(x, dim, false);
#endif
  return cpu::log_softmax(x, dim, false);
}

at::Tensor mean_dim(const at::Tensor& x, int64_t dim, bool keepdim, std::optional<at::ScalarType> dtype) {
  if (dim < -x.dim() || dim >= x.dim()) {
    fail("mean_dim: invalid dimension " + num(dim) + " for a " + num(x.dim()) + "-D tensor");
  }
  at::Tensor in = x;
  if (at::isIntegralType(x.scalar_type(), /*includeBool=*/true) && !dtype) dtype = at::kFloat;
  if (dtype && *dtype != in.scalar_type()) in = in.to(*dtype);
  check_tensor(in, "mean_dim");
  const int64_t d[1] = {dim};
#ifdef LOCKSTEP_WITH_CUDA
  if (in.is_cuda()) return cuda::mean(in, at::IntArrayRef(d), keepdim, std::nullopt);
#endif
  return cpu::mean(in, at::IntArrayRef(d), keepdim, std::nullopt);
}

int64_t kv_split() { return kKvSplit; }

std::vector<std::string> covered_overloads() { return registered_overloads(); }

std::vector<std::string> classify(const std::string& op) {
  auto [coverage, note] = classify_op(op);
  return {coverage, note};
}

// One recorder for Python's record_begin() ... record_end().
std::mutex g_recorder_mutex;
std::unique_ptr<OpRecorder> g_recorder;

void record_begin() {
  std::lock_guard<std::mutex> lock(g_recorder_mutex);
  if (g_recorder) fail("lockstep: an op recording is already running (record_end() was not called)");
  g_recorder = std::make_unique<OpRecorder>();
}

std::tuple<std::vector<std::string>, std::vector<int64_t>> record_end() {
  std::lock_guard<std::mutex> lock(g_recorder_mutex);
  if (!g_recorder) fail("lockstep: record_end() without record_begin()");
  std::vector<std::string> names;
  std::vector<int64_t> counts;
  for (const auto& [name, count] : g_recorder->stop()) {
    names.push_back(name);
    counts.push_back(count);
  }
  g_recorder.reset();
  return {names, counts};
}

}  // namespace
}  // namespace lockstep::kernels

TORCH_LIBRARY_FRAGMENT(lockstep, m) {
  using namespace lockstep::kernels;
  m.def("matmul_persistent(Tensor a, Tensor b, Tensor? bias=None) -> Tensor", &matmul_persistent);
  m.def("log_softmax(Tensor x, int dim=-1) -> Tensor", &log_softmax);
  m.def("mean_dim(Tensor x, int dim, bool keepdim=False, ScalarType? dtype=None) -> Tensor", &mean_dim);
  m.def("kv_split() -> int", &kv_split);
  m.def("covered_overloads() -> str[]", &covered_overloads);
  m.def("classify(str op) -> str[]", &classify);
  m.def("record_begin() -> ()", &record_begin);
  m.def("record_end() -> (str[], int[])", &record_end);
}

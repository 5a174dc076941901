#include "kernels/coverage.h"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <vector>

#include "kernels/registered.h"

namespace lockstep::kernels {
namespace {

// CompositeImplicitAutograd ops that only call other ops.
const std::set<std::string> kComposite = {
    "linear", "matmul", "layer_norm", "softmax", "log_softmax", "dropout", "feature_dropout", "flatten",
    "einsum", "split", "chunk", "unflatten", "group_norm", "instance_norm", "batch_norm", "embedding_bag",
    "_unsafe_view", "reshape", "repeat_interleave", "t", "numpy_T", "type_as", "expand_as", "view_as", "unbind",
    "movedim", "moveaxis", "swapaxes", "size", "contiguous"};

// One correctly rounded IEEE operation per element, comparisons, or data
// movement: independent of the batch by construction.
const std::set<std::string> kExact = {
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "neg", "abs", "sqrt", "rsqrt", "reciprocal",
    "square", "relu", "relu_", "threshold", "clamp", "clamp_min", "clamp_max", "maximum", "minimum", "where",
    "masked_fill", "masked_fill_", "eq", "ne", "lt", "le", "gt", "ge", "logical_not", "logical_and", "bitwise_and",
    "max", "min", "argmax", "argmin", "amax", "topk", "sort", "cat", "stack", "embedding", "index_select", "gather",
    "index", "index_put_", "index_copy", "index_copy_", "scatter", "view", "as_strided", "transpose", "permute", "clone", "copy_",
    "detach", "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full",
    "full_like", "fill_", "zero_", "arange", "slice", "select", "narrow", "expand", "unsqueeze", "squeeze",
    "to", "_to_copy", "resize_", "set_", "lift_fresh", "alias", "split_with_sizes", "triu", "tril", "roll",
    "repeat", "flip", "item", "_local_scalar_dense", "is_nonzero", "stride", "numel", "dim",
    "new_empty", "new_zeros", "new_ones", "new_full", "fmod", "remainder", "floor", "ceil", "round", "trunc",
    "sign", "isnan", "isinf", "nan_to_num", "_reshape_alias", "view_as_real", "unfold", "pad", "constant_pad_nd",
    "result_type", "dropout_", "_has_compatible_shallow_copy_type", "requires_grad_", "_unsafe_index"};

const std::map<std::string, std::string> kNotes = {
    {"pow", "exact only for exponent 2 (square); a fractional exponent drifts with the thread split on CPU"},
    {"exp", "stock vector and scalar paths may round differently"},
    {"gelu", "stock vector and scalar paths may round differently"},
    {"tanh", "stock vector and scalar paths may round differently"},
    {"cos", "stock vector and scalar paths may round differently"},
    {"sin", "stock vector and scalar paths may round differently"},
    {"cumsum", "a reduction lockstep does not replace"},
    {"prod", "a reduction lockstep does not replace"},
    {"norm", "a reduction lockstep does not replace"},
    {"linalg_vector_norm", "a reduction lockstep does not replace"},
    {"var", "a reduction lockstep does not replace"},
    {"std", "a reduction lockstep does not replace"},
    {"baddbmm", "a GEMM lockstep does not replace (use bmm + add)"},
    {"conv1d", "convolutions are not replaced"},
    {"convolution", "convolutions are not replaced"},
    {"_efficient_attention_forward", "called directly, bypassing scaled_dot_product_attention"},
    {"_flash_attention_forward", "called directly, bypassing scaled_dot_product_attention"}};

std::mutex g_mutex;
std::map<std::string, int64_t>* g_calls = nullptr;

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_calls != nullptr) {
    // By overload: lockstep replaces sum.dim_IntList, not the full-tensor sum.
    const std::string overload = fn.overload_name();
    ++(*g_calls)[overload.empty() ? std::string(fn.name()) : std::string(fn.name()) + "." + overload];
  }
  return nullptr;
}

}  // namespace

std::pair<std::string, std::string> classify_op(const std::string& full) {
  const std::string overload = full.rfind("aten::", 0) == 0 ? full.substr(6) : full;
  if (full.find("::") != std::string::npos && full.rfind("aten::", 0) != 0) {
    return {"composite", "not an aten op (its aten calls are listed themselves)"};
  }
  // Invariant: exactly the overloads kernels/register.cpp registers.
  const std::vector<std::string>& registered = kernels::registered_overloads();
  if (std::find(registered.begin(), registered.end(), overload) != registered.end()) {
    return {"invariant", "lockstep kernel"};
  }
  const std::string name = overload.substr(0, overload.find('.'));
  for (const std::string& r : registered) {
    if (r.rfind(name + ".", 0) == 0) return {"uncovered", "lockstep replaces " + r + ", not this overload"};
  }
  if (kComposite.count(name)) return {"composite", "decomposes into the ops listed"};
  if (kExact.count(name)) return {"exact", ""};
  auto note = kNotes.find(name);
  return {"uncovered", note != kNotes.end() ? note->second : "no invariant kernel; bits may depend on the batch"};
}

OpRecorder::OpRecorder() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_calls != nullptr) throw std::logic_error("an op recorder is already running in this process");
  g_calls = new std::map<std::string, int64_t>();
  handle_ = at::addGlobalCallback(at::RecordFunctionCallback(on_start).scopes({at::RecordScope::FUNCTION}));
  running_ = true;
}

OpRecorder::~OpRecorder() { stop(); }

std::map<std::string, int64_t> OpRecorder::stop() {
  if (!running_) return {};
  running_ = false;
  at::removeCallback(handle_);
  std::lock_guard<std::mutex> lock(g_mutex);
  std::map<std::string, int64_t> calls = std::move(*g_calls);
  delete g_calls;
  g_calls = nullptr;
  return calls;
}

}  // namespace lockstep::kernels

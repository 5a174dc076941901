// The one place where lockstep's kernels meet the dispatcher.
//
// TORCH_LIBRARY_IMPL(aten, CPU|CUDA) replaces the backend kernels of the ops
// below. Each replacement asks two questions and does no math itself:
//   1. Is the mode batch_invariant (kernels/mode.h, process-wide)?
//   2. Are the arguments inside what our kernel implements (device, dtype,
//      dims, no dropout, no autograd through a composite op)?
// Yes to both: lockstep's kernel (kernels/cpu/ops.h, kernels/cuda/ops.h).
// The ops are listed in kernels/ops.def, their rules in kernels/routes.h.
// Otherwise: the STOCK kernel, called directly as a C++ function, never
// through the dispatcher (which would come straight back here):
//   - ops with a backend kernel: at::cpu::<op> / at::cuda::<op> (the
//     generated per-backend entry points, ATen/ops/<op>_<backend>_dispatch.h);
//   - ops whose stock CPU/CUDA path is CompositeImplicitAutograd
//     (scaled_dot_product_attention, rms_norm, and _fused_rms_norm on CPU):
//     at::compositeimplicitautograd::<op>, the very function the dispatcher
//     would have run; its own sub-ops dispatch normally (and are stock while
//     the mode is off).
// Registering a CPU/CUDA kernel for a CompositeImplicitAutograd op takes
// precedence over the composite, so those overrides work like the others.
// lockstep::set_mode / lockstep::get_mode let Python switch the mode.
#include <torch/library.h>

#include <string>
#include <vector>

#include "kernels/mode.h"
#include "kernels/quiet_overrides.h"
#include "kernels/registered.h"
#include "kernels/routes.h"

namespace lockstep::kernels {

const std::vector<std::string>& registered_overloads() {
  static const std::vector<std::string> list = {
#define LOCKSTEP_OP(overload, route) overload,
#define LOCKSTEP_OWN_OP(overload, route) overload,
#include "kernels/ops.def"
#undef LOCKSTEP_OP
#undef LOCKSTEP_OWN_OP
  };
  return list;
}

namespace {

template <class B>
void register_overrides(torch::Library& m) {
#define LOCKSTEP_OP(overload, route) m.impl(overload, TORCH_FN(routes::route<B>));
#define LOCKSTEP_OWN_OP(overload, route) m.impl(overload, TORCH_FN(routes::Own<B>::route));
#include "kernels/ops.def"
#undef LOCKSTEP_OP
#undef LOCKSTEP_OWN_OP
}

void set_mode_op(std::string name) { set_mode(parse_mode(name)); }
std::string get_mode_op() { return mode_name(mode()); }

const struct QuietBegin {
  QuietBegin() { quiet_overrides_begin(); }
} quiet_begin;

}  // namespace
}  // namespace lockstep::kernels

TORCH_LIBRARY(lockstep, m) {
  m.def("set_mode(str mode) -> ()", &lockstep::kernels::set_mode_op);
  m.def("get_mode() -> str", &lockstep::kernels::get_mode_op);
}

TORCH_LIBRARY_IMPL(aten, CPU, m) { lockstep::kernels::register_overrides<lockstep::kernels::backends::Cpu>(m); }

#ifdef LOCKSTEP_WITH_CUDA
TORCH_LIBRARY_IMPL(aten, CUDA, m) { lockstep::kernels::register_overrides<lockstep::kernels::backends::Cuda>(m); }
#endif

namespace lockstep::kernels {
namespace {
const struct QuietEnd {
  QuietEnd() { quiet_overrides_end(); }
} quiet_end;
}  // namespace
}  // namespace lockstep::kernels

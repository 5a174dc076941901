#include "kernels/argmax.h"

#include <c10/util/Exception.h>

namespace lockstep::kernels {

at::Tensor argmax_smallest_index(const at::Tensor& logits) {
  if (logits.device().is_cpu()) return argmax_cpu(logits);
#ifdef LOCKSTEP_WITH_CUDA
  if (logits.device().is_cuda()) return argmax_cuda(logits);
#endif
  TORCH_CHECK(false, "argmax: no lockstep kernel for device ", logits.device().str());
}

}  // namespace lockstep::kernels

#include "kernels/argmax.h"

#include <c10/util/Exception.h>

namespace lockstep::kernels {

at::Tensor argmax_smallest_index(const at::Tensor& logits, NanCheck check) {
  (void)check;
  if (logits.device().is_cpu()) return argmax_cpu(logits);   // checks at once either way
#ifdef LOCKSTEP_WITH_CUDA
  if (logits.device().is_cuda()) return argmax_cuda(logits, check);
#endif
  TORCH_CHECK(false, "argmax: no lockstep kernel for device ", logits.device().str());
}

}  // namespace lockstep::kernels

#include "kernels/token_choice.h"

#include <c10/util/Exception.h>

#include "kernels/paged_attention.h"   // upload

namespace lockstep::kernels {

at::Tensor choose_tokens(const at::Tensor& logits, const at::Tensor& params) {
  TORCH_CHECK(logits.scalar_type() == at::kFloat && logits.dim() == 2, "choose_tokens: logits must be float32 [rows, n]");
  TORCH_CHECK(logits.size(1) > 0, "choose_tokens: empty rows");
  TORCH_CHECK(params.scalar_type() == at::kDouble && params.dim() == 2 && params.size(0) == logits.size(0) &&
                  params.size(1) == kChoiceParams,
              "choose_tokens: params must be float64 [rows, ", kChoiceParams, "] (temperature, top_k, top_p, uniform)");
  if (logits.device().is_cpu()) return choose_tokens_cpu(logits, params.cpu());
#ifdef LOCKSTEP_WITH_CUDA
  if (logits.device().is_cuda()) {
    return choose_tokens_cuda(logits, params.is_cpu() ? upload(params, logits.device()) : params.to(logits.device()));
  }
#endif
  TORCH_CHECK(false, "choose_tokens: no lockstep kernel for device ", logits.device().str());
}

}  // namespace lockstep::kernels

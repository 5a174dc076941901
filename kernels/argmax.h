// Argmax over the last dimension with a defined tie-break: among equal
// maxima the smallest index wins, on every device. NaN anywhere in a row is
// an error (a NaN logit is a bug upstream, not something to pick).
#pragma once

#include <ATen/core/Tensor.h>

namespace lockstep::kernels {

// When the NaN check happens: `now` raises it before returning (on a GPU
// that waits for the kernel); `deferred` does not wait: a row holding a NaN
// gets the index -1, for the caller to check once the result is on the host
// (the engine's pipelined steps). The CPU always checks at once.
enum class NanCheck { now, deferred };

// `logits`: fp32 [rows, n] or [n], CPU or CUDA. Returns int64 [rows] (or a
// 0-dim tensor) on the same device.
at::Tensor argmax_smallest_index(const at::Tensor& logits, NanCheck check = NanCheck::now);

at::Tensor argmax_cpu(const at::Tensor& logits);
#ifdef LOCKSTEP_WITH_CUDA
at::Tensor argmax_cuda(const at::Tensor& logits, NanCheck check = NanCheck::now);
#endif

}  // namespace lockstep::kernels

// The tensor-core attention (attention_mma.cuh has THE ORDER): an opt-in
// kernel for bf16/fp16 with head dims 64 and 128 (D == Dv), used by sdpa()
// (attention.cu) and paged_attention() (paged_attention.cu) when
// LOCKSTEP_ATTENTION_MMA=1. Its bits differ from the CUDA-core kernel's
// (another order), so it stays off by default until it is verified on a GPU.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lockstep::kernels::cuda {

// LOCKSTEP_ATTENTION_MMA=1, read once per process; an AttentionMmaOverride
// in scope wins.
bool attention_mma_enabled();

// Whether the tensor-core kernel computes attention of this dtype and these
// head dims when enabled (bf16/fp16, D == Dv in {64, 128}). Nothing else
// (batch, lengths, alignment, masks) takes part in the choice.
bool attention_mma_supports(at::ScalarType t, int64_t head_dim, int64_t value_dim);

// Which of the two tensor-core kernels runs a call: both give the same bits
// (THE ORDER), so the automatic choice is free to look at the shape.
enum class MmaKernel { automatic = 0, walk = 1, split = 2 };

// For tests: the switch (and the kernel) for the lifetime of the object.
class AttentionMmaOverride {
 public:
  explicit AttentionMmaOverride(bool on, MmaKernel kernel = MmaKernel::automatic);
  ~AttentionMmaOverride();
  AttentionMmaOverride(const AttentionMmaOverride&) = delete;
  AttentionMmaOverride& operator=(const AttentionMmaOverride&) = delete;

 private:
  int saved_on_;
  int saved_kernel_;
};

namespace attention_detail {

struct Params;

// The launches (attention_mma.cu). p as sdpa() / paged_attention() fill it
// for the CUDA-core kernel (its row tiling fields are not read).
void mma_sdpa(const Params& p, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
// Paged: `entries` tile-map entries of `row_tile` rows each (paged_tiles())
// over `sequences` sequences.
void mma_paged(const Params& p, const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
               int64_t entries, int row_tile, int64_t sequences);

}  // namespace attention_detail
}  // namespace lockstep::kernels::cuda

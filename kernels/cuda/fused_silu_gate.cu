// SwiGLU's gate in one kernel: at::silu(gate) * up with the composite's bits.
// On CUDA lockstep registers silu over aten but runs the stock kernel outside
// portable mode (a thread computes each element with one formula), so this
// repeats ATen's silu_kernel (ActivationSiluKernel.cu): in fp32 opmath,
// x / (1 + exp(-x)) with expf and an IEEE division, rounded to the dtype;
// then aten mul: both to fp32, one product, rounded.
//
// THIS FILE BUILDS WITH --fmad=true (kernels/CMakeLists.txt), unlike every
// other lockstep kernel. libtorch is built with nvcc's default contraction,
// and there expf's last scaling multiply fuses with the `1 +` that follows it
// into one fma: the stock silu's denominator is rounded once, not twice.
// Compiled with --fmad=false the same source rounds twice and differs in the
// last bit for some inputs. With the same expression, the same libdevice expf
// and the same contraction, the bits are the stock kernel's. Nothing else
// here has a product next to a sum: the gate's product follows a division.
#include <ATen/ops/empty.h>
#include <ATen/ops/silu.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

#include "kernels/cuda/fused_dispatch.cuh"
#include "kernels/cuda/ops.h"

namespace lockstep::kernels::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void silu_gate(const T* __restrict__ gate, int64_t g_s0, const T* __restrict__ up, int64_t u_s0,
                          T* __restrict__ out, int64_t width, int64_t total) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t n = i / width, f = i % width;
    const float g = static_cast<float>(gate[n * g_s0 + f]);
    const T act = static_cast<T>(g / (1.0f + expf(-g)));
    out[i] = static_cast<T>(static_cast<float>(act) * static_cast<float>(up[n * u_s0 + f]));
  }
}

}  // namespace

at::Tensor fused_silu_gate(const at::Tensor& gate, const at::Tensor& up) {
  const c10::cuda::CUDAGuard guard(gate.device());
  at::Tensor out = at::empty(gate.sizes(), gate.options().memory_format(at::MemoryFormat::Contiguous));
  const int64_t total = gate.numel();
  if (total == 0) return out;
  // Enough blocks to fill the GPU a few times over; the grid-stride loop does the rest.
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65536);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  LOCKSTEP_DISPATCH_FUSED(gate.scalar_type(), "lockstep_fused_silu_gate", [&] {
    silu_gate<scalar_t><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        gate.const_data_ptr<scalar_t>(), gate.stride(0), up.const_data_ptr<scalar_t>(), up.stride(0),
        out.data_ptr<scalar_t>(), gate.size(1), total);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace lockstep::kernels::cuda

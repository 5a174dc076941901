// libFuzzer target: the safetensors header parser (core/weights/safetensors.cpp)
// over arbitrary bytes. A parse either succeeds or throws lockstep::Error;
// anything else (a crash, a sanitizer report, an uncaught exception, an
// allocation over -rss_limit_mb) is a finding. A parsed file's F32/F16/BF16
// tensors are read too, so the validated ranges are exercised.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = lockstep::safetensors::File::from_bytes(data, size, "fuzz.safetensors");
    for (const auto& info : file.tensors()) {
      (void)file.data(info);
      if (lockstep::safetensors::can_read_f32(info.dtype) && info.n_elements() <= (1 << 16)) {
        std::vector<float> out(static_cast<size_t>(info.n_elements()));
        file.read_f32(info, out.data());
      }
    }
  } catch (const lockstep::Error&) {
  }
  return 0;
}

// libFuzzer target: the GGUF reader (core/weights/gguf.cpp) over arbitrary
// bytes, then the typed metadata accessors and dequantization of small
// tensors, so that everything the parse validated is also used. Only
// lockstep::Error may leave the reader.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/weights/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = lockstep::gguf::File::from_bytes(data, size, "fuzz.gguf");
    for (const auto& [key, value] : file.metadata()) {
      try {
        if (value.is_array) {
          (void)file.get_int_array(key);
        } else {
          (void)file.get_int(key);
        }
      } catch (const lockstep::Error&) {
      }
    }
    for (const auto& info : file.tensors()) {
      (void)file.tensor_data(info);
      if (info.n_elements() <= (1 << 16)) {
        std::vector<float> out(static_cast<size_t>(info.n_elements()));
        file.dequantize(info, out.data());
      }
    }
  } catch (const lockstep::Error&) {
  }
  return 0;
}

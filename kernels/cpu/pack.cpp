// fp32 <-> fp16 / bf16 conversion (CPU) for compressed synchronisation payloads. The bit
// manipulation is in elementwise.hpp, shared with the CUDA kernels.
#include "../elementwise.hpp"
#include "parallel.hpp"

namespace esync::kernels::cpu {

void pack_fp16(std::uint16_t* __restrict out, const float* __restrict x, std::size_t n) {
  ESYNC_PARALLEL_FOR
  for (std::size_t i = 0; i < n; ++i) out[i] = elem::float_to_half(x[i]);
}

void unpack_fp16(float* __restrict out, const std::uint16_t* __restrict x, std::size_t n) {
  ESYNC_PARALLEL_FOR
  for (std::size_t i = 0; i < n; ++i) out[i] = elem::half_to_float(x[i]);
}

void pack_bf16(std::uint16_t* __restrict out, const float* __restrict x, std::size_t n) {
  ESYNC_PARALLEL_FOR
  for (std::size_t i = 0; i < n; ++i) out[i] = elem::float_to_bf16(x[i]);
}

void unpack_bf16(float* __restrict out, const std::uint16_t* __restrict x, std::size_t n) {
  ESYNC_PARALLEL_FOR
  for (std::size_t i = 0; i < n; ++i) out[i] = elem::bf16_to_float(x[i]);
}

}  // namespace esync::kernels::cpu

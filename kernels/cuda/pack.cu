// fp32 <-> fp16 / bf16 conversion (CUDA): the bit manipulation shared with the CPU kernels.
#include "../elementwise.hpp"
#include "launch.cuh"

namespace esync::kernels::cuda {
using detail::launch;

void pack_fp16(std::uint16_t* out, const float* x, std::size_t n, Stream s) {
  launch(n, s, [=] __device__(std::size_t i) { out[i] = elem::float_to_half(x[i]); });
}
void unpack_fp16(float* out, const std::uint16_t* x, std::size_t n, Stream s) {
  launch(n, s, [=] __device__(std::size_t i) { out[i] = elem::half_to_float(x[i]); });
}
void pack_bf16(std::uint16_t* out, const float* x, std::size_t n, Stream s) {
  launch(n, s, [=] __device__(std::size_t i) { out[i] = elem::float_to_bf16(x[i]); });
}
void unpack_bf16(float* out, const std::uint16_t* x, std::size_t n, Stream s) {
  launch(n, s, [=] __device__(std::size_t i) { out[i] = elem::bf16_to_float(x[i]); });
}

}  // namespace esync::kernels::cuda

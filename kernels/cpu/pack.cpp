// fp32 <-> fp16 / bf16 conversion (CPU) for compressed synchronisation payloads.
// Where the CPU has F16C (every x86-64 since ~2013) fp16 uses the hardware conversion
// (vcvtps2ph, round to nearest even), 8 values per instruction; bf16 and the fallback use the
// branch-free bit manipulation of elementwise.hpp (shared with the CUDA kernels), compiled
// for AVX2 where available so the 32 -> 16 bit narrowing vectorises. Chosen once at run time.
#include <immintrin.h>

#include <algorithm>

#include "../elementwise.hpp"
#include "parallel.hpp"

namespace esync::kernels::cpu {
namespace {

// Runs f(begin, end) over blocks of n, in parallel above the threshold.
template <typename F>
void for_blocks(std::size_t n, F f) {
  constexpr std::size_t kBlock = std::size_t{1} << 14;
  if (n < kParallelThreshold) {  // see parallel.hpp: no OpenMP region for small inputs
    f(std::size_t{0}, n);
    return;
  }
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (std::size_t b = 0; b < blocks; ++b) f(b * kBlock, std::min(n, (b + 1) * kBlock));
}

const bool kHasF16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
const bool kHasAvx2 = __builtin_cpu_supports("avx2");

__attribute__((target("avx,f16c"))) void pack_fp16_f16c(std::uint16_t* out, const float* x, std::size_t b,
                                                        std::size_t e) {
  std::size_t i = b;
  for (; i + 8 <= e; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < e; ++i) out[i] = elem::float_to_half(x[i]);
}

__attribute__((target("avx,f16c"))) void unpack_fp16_f16c(float* out, const std::uint16_t* x, std::size_t b,
                                                          std::size_t e) {
  std::size_t i = b;
  for (; i + 8 <= e; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  for (; i < e; ++i) out[i] = elem::half_to_float(x[i]);
}

#define ESYNC_CONVERT_LOOP(NAME, OUT_T, IN_T, FN)                                                   \
  __attribute__((target("avx2"))) void NAME##_avx2(OUT_T* __restrict out, const IN_T* __restrict x, \
                                                   std::size_t b, std::size_t e) {                  \
    for (std::size_t i = b; i < e; ++i) out[i] = elem::FN(x[i]);                                    \
  }                                                                                                 \
  void NAME##_base(OUT_T* __restrict out, const IN_T* __restrict x, std::size_t b, std::size_t e) { \
    for (std::size_t i = b; i < e; ++i) out[i] = elem::FN(x[i]);                                    \
  }

ESYNC_CONVERT_LOOP(pack_fp16, std::uint16_t, float, float_to_half)
ESYNC_CONVERT_LOOP(unpack_fp16, float, std::uint16_t, half_to_float)
ESYNC_CONVERT_LOOP(pack_bf16, std::uint16_t, float, float_to_bf16)
ESYNC_CONVERT_LOOP(unpack_bf16, float, std::uint16_t, bf16_to_float)
#undef ESYNC_CONVERT_LOOP

}  // namespace

void pack_fp16(std::uint16_t* out, const float* x, std::size_t n) {
  for_blocks(n, [&](std::size_t b, std::size_t e) {
    kHasF16c   ? pack_fp16_f16c(out, x, b, e)
    : kHasAvx2 ? pack_fp16_avx2(out, x, b, e)
               : pack_fp16_base(out, x, b, e);
  });
}

void unpack_fp16(float* out, const std::uint16_t* x, std::size_t n) {
  for_blocks(n, [&](std::size_t b, std::size_t e) {
    kHasF16c   ? unpack_fp16_f16c(out, x, b, e)
    : kHasAvx2 ? unpack_fp16_avx2(out, x, b, e)
               : unpack_fp16_base(out, x, b, e);
  });
}

void pack_bf16(std::uint16_t* out, const float* x, std::size_t n) {
  for_blocks(n, [&](std::size_t b, std::size_t e) {
    kHasAvx2 ? pack_bf16_avx2(out, x, b, e) : pack_bf16_base(out, x, b, e);
  });
}

void unpack_bf16(float* out, const std::uint16_t* x, std::size_t n) {
  for_blocks(n, [&](std::size_t b, std::size_t e) {
    kHasAvx2 ? unpack_bf16_avx2(out, x, b, e) : unpack_bf16_base(out, x, b, e);
  });
}

}  // namespace esync::kernels::cpu

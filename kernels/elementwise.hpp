#pragma once
// Per-element formulas shared by the CPU and the CUDA kernels, so both implementations compute
// the same formula and the math lives in one place. They agree to rounding, not bit for bit:
// nvcc contracts a * b + c into one fused multiply-add (rounded once, where the CPU build rounds
// twice); tests/test_kernels_cuda.cpp compares them within 1e-6 + 1e-5 |x|.
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define ESYNC_HD __host__ __device__ __forceinline__
#else
#define ESYNC_HD inline
#endif

namespace esync::kernels::elem {

ESYNC_HD std::uint32_t f2u(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

ESYNC_HD float u2f(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// fp32 -> fp16, round to nearest even (F. Giesen's branch-free construction): selects instead
// of branches so the CPU loop vectorises and CUDA warps do not diverge.
ESYNC_HD std::uint16_t float_to_half(float x) {
  std::uint32_t f = f2u(x);
  const std::uint32_t sign = f & 0x80000000u;
  f ^= sign;
  // Inf/NaN/overflow: NaN keeps a quiet-NaN payload, everything too large becomes Inf.
  const std::uint32_t big = f > 0x7f800000u ? 0x7e00u : 0x7c00u;
  // Subnormal half (and zero): adding a magic float lets the FPU do the rounding shift.
  const std::uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  const std::uint32_t small = f2u(u2f(f) + u2f(denorm_magic)) - denorm_magic;
  // Normal: rebias the exponent and round the mantissa to nearest even.
  const std::uint32_t mant_odd = (f >> 13) & 1u;
  const std::uint32_t normal = (f + ((15u - 127u) << 23) + 0xfffu + mant_odd) >> 13;
  const std::uint32_t o = f >= 0x47800000u ? big : (f < 0x38800000u ? small : normal);
  return static_cast<std::uint16_t>(o | (sign >> 16));
}

ESYNC_HD float half_to_float(std::uint16_t h) {
  const std::uint32_t shifted_exp = 0x7c00u << 13;
  std::uint32_t o = (std::uint32_t(h) & 0x7fffu) << 13;
  const std::uint32_t exp = shifted_exp & o;
  o += (127u - 15u) << 23;
  const std::uint32_t inf_nan = o + ((128u - 16u) << 23);
  const float denorm = u2f(o + (1u << 23)) - u2f(113u << 23);
  o = exp == shifted_exp ? inf_nan : (exp == 0 ? f2u(denorm) : o);
  return u2f(o | ((std::uint32_t(h) & 0x8000u) << 16));
}

ESYNC_HD std::uint16_t float_to_bf16(float x) {
  const std::uint32_t u = f2u(x);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  const std::uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return static_cast<std::uint16_t>(nan ? ((u >> 16) | 0x40u) : rounded);
}

ESYNC_HD float bf16_to_float(std::uint16_t b) { return u2f(std::uint32_t(b) << 16); }

ESYNC_HD float dc_term(float g, float w, float w_bak, float lambda) {
  return g + lambda * g * g * (w - w_bak);
}

}  // namespace esync::kernels::elem

#pragma once
// Random inputs for the kernel tests (CPU, CUDA and the Place dispatch): n floats uniform in
// [lo, hi), the same for the same seed.
#include <cstdint>
#include <random>
#include <vector>

namespace esync::test {

inline std::vector<float> rnd(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(g);
  return v;
}

}  // namespace esync::test

// Delay compensation and delay-adaptive kernels (CPU).
//   DC-ASGD (Zheng et al. 2017): g~ = g + lambda * g (.) g (.) (w - w_bak): a cheap diagonal
//   approximation of the Hessian term that a stale gradient misses.
//   Adaptive: lambda_t = lambda0 / sqrt(MS + eps), MS an EMA of g^2, element-wise.
//   Delay-adaptive (seed 000): eta_tau = eta * M / max(M, tau).
#include <algorithm>
#include <cmath>

#include "../elementwise.hpp"
#include "parallel.hpp"

namespace esync::kernels {

float delay_adaptive_lr(float lr, int workers, std::int64_t staleness) {
  const std::int64_t m = std::max(workers, 1);
  return lr * static_cast<float>(double(m) / double(std::max(m, staleness)));
}

namespace cpu {

void dc_compensate(float* out, const float* g, const float* __restrict w, const float* __restrict w_bak,
                   std::size_t n, float lambda) {
  parallel_for(n, [=](std::size_t i) {
    const float gi = g[i];
    out[i] = elem::dc_term(gi, w[i], w_bak[i], lambda);
  });
}

void dc_compensate_adaptive(float* out, const float* g, const float* __restrict w,
                            const float* __restrict w_bak, float* __restrict ms, std::size_t n, float lambda0,
                            float m, float eps) {
  parallel_for(n, [=](std::size_t i) {
    const float gi = g[i];
    const float msi = m * ms[i] + (1.0f - m) * gi * gi;
    ms[i] = msi;
    out[i] = elem::dc_term(gi, w[i], w_bak[i], lambda0 / std::sqrt(msi + eps));
  });
}

void delay_adaptive_apply(float* __restrict w, const float* __restrict g, float lr, int workers,
                          std::int64_t staleness, std::size_t n) {
  const float eta = delay_adaptive_lr(lr, workers, staleness);
  parallel_for(n, [=](std::size_t i) { w[i] -= eta * g[i]; });
}

}  // namespace cpu
}  // namespace esync::kernels

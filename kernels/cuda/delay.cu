// Delay compensation and delay-adaptive kernels (CUDA): same semantics as kernels/cpu/delay.cpp.
#include "../elementwise.hpp"
#include "launch.cuh"

namespace esync::kernels::cuda {
using detail::launch;

void dc_compensate(float* out, const float* g, const float* w, const float* w_bak, std::size_t n,
                   float lambda, Stream s) {
  launch(n, s, [=] __device__(std::size_t i) { out[i] = elem::dc_term(g[i], w[i], w_bak[i], lambda); });
}

void dc_compensate_adaptive(float* out, const float* g, const float* w, const float* w_bak, float* ms,
                            std::size_t n, float lambda0, float m, float eps, Stream s) {
  launch(n, s, [=] __device__(std::size_t i) {
    const float gi = g[i];
    const float msi = m * ms[i] + (1.0f - m) * gi * gi;
    ms[i] = msi;
    out[i] = elem::dc_term(gi, w[i], w_bak[i], lambda0 / sqrtf(msi + eps));
  });
}

void delay_adaptive_apply(float* w, const float* g, float lr, int workers, std::int64_t staleness,
                          std::size_t n, Stream s) {
  const float eta = delay_adaptive_lr(lr, workers, staleness);
  launch(n, s, [=] __device__(std::size_t i) { w[i] -= eta * g[i]; });
}

}  // namespace esync::kernels::cuda

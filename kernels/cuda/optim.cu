// Optimiser update kernels (CUDA): same semantics as kernels/cpu/optim.cpp.
#include <cmath>

#include "launch.cuh"

namespace esync::kernels::cuda {
using detail::launch;

void sgd_update(float* w, const float* g, float* buf, std::size_t n, const SgdParams& p, Stream s) {
  const float lr = p.lr, wd = p.weight_decay, mu = p.momentum;
  if (mu == 0.0f) {
    launch(n, s, [=] __device__(std::size_t i) { w[i] -= lr * (g[i] + wd * w[i]); });
  } else if (p.nesterov) {
    launch(n, s, [=] __device__(std::size_t i) {
      const float gi = g[i] + wd * w[i];
      const float b = mu * buf[i] + gi;
      buf[i] = b;
      w[i] -= lr * (gi + mu * b);
    });
  } else {
    launch(n, s, [=] __device__(std::size_t i) {
      const float b = mu * buf[i] + g[i] + wd * w[i];
      buf[i] = b;
      w[i] -= lr * b;
    });
  }
}

void adam_update(float* w, const float* g, float* m, float* v, std::size_t n, const AdamParams& p,
                 std::int64_t step, Stream s) {
  const float b1 = p.beta1, b2 = p.beta2, eps = p.eps;
  const float bc1 = 1.0f - static_cast<float>(std::pow(double(b1), double(step)));
  const float bc2 = 1.0f - static_cast<float>(std::pow(double(b2), double(step)));
  const float step_size = p.lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  const float decay = 1.0f - p.lr * p.weight_decay;
  launch(n, s, [=] __device__(std::size_t i) {
    const float gi = g[i];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
  });
}

}  // namespace esync::kernels::cuda

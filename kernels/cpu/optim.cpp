// Optimiser update kernels (CPU), PyTorch's semantics so results match torch.optim:
//   SGD:  g' = g + wd*w; buf = mu*buf + g' (buf = g' on the first step is the caller's
//         business: a zeroed buffer gives the same result with mu*0); nesterov: g' + mu*buf;
//         w -= lr * (buf or g').
//   Adam: m = b1*m + (1-b1)g; v = b2*v + (1-b2)g^2; w -= lr * mhat / (sqrt(vhat) + eps),
//         with decoupled weight decay w -= lr*wd*w (AdamW) when wd > 0.
#include <cmath>

#include "parallel.hpp"

namespace esync::kernels::cpu {

void sgd_update(float* __restrict w, const float* __restrict g, float* __restrict buf, std::size_t n,
                const SgdParams& p) {
  const float lr = p.lr, wd = p.weight_decay, mu = p.momentum;
  if (mu == 0.0f) {
    parallel_for(n, [=](std::size_t i) { w[i] -= lr * (g[i] + wd * w[i]); });
    return;
  }
  if (p.nesterov) {
    parallel_for(n, [=](std::size_t i) {
      const float gi = g[i] + wd * w[i];
      const float b = mu * buf[i] + gi;
      buf[i] = b;
      w[i] -= lr * (gi + mu * b);
    });
    return;
  }
  parallel_for(n, [=](std::size_t i) {
    const float b = mu * buf[i] + g[i] + wd * w[i];
    buf[i] = b;
    w[i] -= lr * b;
  });
}

void adam_update(float* __restrict w, const float* __restrict g, float* __restrict m, float* __restrict v,
                 std::size_t n, const AdamParams& p, std::int64_t step) {
  const float b1 = p.beta1, b2 = p.beta2, eps = p.eps;
  const float bc1 = 1.0f - static_cast<float>(std::pow(double(b1), double(step)));
  const float bc2 = 1.0f - static_cast<float>(std::pow(double(b2), double(step)));
  const float step_size = p.lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  const float decay = 1.0f - p.lr * p.weight_decay;
  parallel_for(n, [=](std::size_t i) {
    const float gi = g[i];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  });
}

}  // namespace esync::kernels::cpu

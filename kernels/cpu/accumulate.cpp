// Aggregation kernels (CPU): axpy, K-way weighted sum, scale, and the two ESync steps.
// Each is one streaming pass; the K-way sum reads K inputs once and writes out once instead
// of K separate axpy passes (K+1 instead of 3K memory sweeps).
#include "parallel.hpp"

namespace esync::kernels::cpu {

void axpy(float* __restrict out, float a, const float* __restrict x, std::size_t n) {
  parallel_for(n, [=](std::size_t i) { out[i] += a * x[i]; });
}

void weighted_sum(float* out, const float* const* xs, const float* w, int k, std::size_t n) {
  if (k <= 0) {
    parallel_for(n, [=](std::size_t i) { out[i] = 0.0f; });
    return;
  }
  // Up to four inputs per pass: one pass reads 4 inputs and writes out once, so K inputs cost
  // ceil(K/4) sweeps instead of K. out may alias xs[0]: each element is read before it is
  // written in the same iteration.
  for (int base = 0; base < k; base += 4) {
    const int m = k - base < 4 ? k - base : 4;
    const float* a = xs[base];
    const float* b = xs[base + (m > 1 ? 1 : 0)];
    const float* c = xs[base + (m > 2 ? 2 : 0)];
    const float* d = xs[base + (m > 3 ? 3 : 0)];
    const float wa = w[base], wb = w[base + (m > 1 ? 1 : 0)], wc = w[base + (m > 2 ? 2 : 0)],
                wd = w[base + (m > 3 ? 3 : 0)];
    const bool first = base == 0;
    switch (m) {
      case 1:
        parallel_for(n, [=](std::size_t i) { out[i] = (first ? 0.0f : out[i]) + wa * a[i]; });
        break;
      case 2:
        parallel_for(n, [=](std::size_t i) { out[i] = (first ? 0.0f : out[i]) + wa * a[i] + wb * b[i]; });
        break;
      case 3:
        parallel_for(
            n, [=](std::size_t i) { out[i] = (first ? 0.0f : out[i]) + wa * a[i] + wb * b[i] + wc * c[i]; });
        break;
      default:
        parallel_for(n, [=](std::size_t i) {
          out[i] = (first ? 0.0f : out[i]) + wa * a[i] + wb * b[i] + wc * c[i] + wd * d[i];
        });
    }
  }
}

void scale(float* x, float a, std::size_t n) {
  parallel_for(n, [=](std::size_t i) { x[i] *= a; });
}

void esync_delta(float* __restrict out, const float* __restrict w_local, const float* __restrict w_ref,
                 float weight, std::size_t n) {
  parallel_for(n, [=](std::size_t i) { out[i] = weight * (w_local[i] - w_ref[i]); });
}

void esync_apply(float* w, const float* w_ref, const float* __restrict delta_sum, float global_lr,
                 std::size_t n) {
  parallel_for(n, [=](std::size_t i) { w[i] = w_ref[i] + global_lr * delta_sum[i]; });
}

}  // namespace esync::kernels::cpu

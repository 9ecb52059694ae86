// Aggregation kernels (CUDA): same semantics as kernels/cpu/accumulate.cpp.
#include "launch.cuh"

namespace esync::kernels::cuda {
using detail::launch;

namespace {
constexpr int kMax = 8;
struct Inputs {
  const float* x[kMax];
  float w[kMax];
  int k;
};
}  // namespace

void axpy(float* out, float a, const float* x, std::size_t n, Stream s) {
  launch(n, s, [=] __device__(std::size_t i) { out[i] += a * x[i]; });
}

void weighted_sum(float* out, const float* const* xs, const float* w, int k, std::size_t n, Stream s) {
  // xs and w are host arrays: K is small, so pass up to 8 pointers by value per launch and
  // accumulate the rest in further launches.
  if (k <= 0) {
    launch(n, s, [=] __device__(std::size_t i) { out[i] = 0.0f; });
    return;
  }
  for (int base = 0; base < k; base += kMax) {
    Inputs in{};
    in.k = k - base < kMax ? k - base : kMax;
    for (int j = 0; j < in.k; ++j) {
      in.x[j] = xs[base + j];
      in.w[j] = w[base + j];
    }
    const bool first = base == 0;
    launch(n, s, [=] __device__(std::size_t i) {
      float acc = first ? 0.0f : out[i];
      for (int j = 0; j < in.k; ++j) acc += in.w[j] * in.x[j][i];
      out[i] = acc;
    });
  }
}

void scale(float* x, float a, std::size_t n, Stream s) {
  launch(n, s, [=] __device__(std::size_t i) { x[i] *= a; });
}

void esync_delta(float* out, const float* w_local, const float* w_ref, float weight, std::size_t n,
                 Stream s) {
  launch(n, s, [=] __device__(std::size_t i) { out[i] = weight * (w_local[i] - w_ref[i]); });
}

void esync_apply(float* w, const float* w_ref, const float* delta_sum, float global_lr, std::size_t n,
                 Stream s) {
  launch(n, s, [=] __device__(std::size_t i) { w[i] = w_ref[i] + global_lr * delta_sum[i]; });
}

}  // namespace esync::kernels::cuda

#include "esync/averaging.hpp"

#include <algorithm>

#include "esync/error.hpp"
#include "esync/kernels.hpp"

namespace esync {

Weighting parse_weighting(const std::string& name) {
  if (name == "batch") return Weighting::batch;
  if (name == "samples") return Weighting::samples;
  if (name == "normalized") return Weighting::normalized;
  ESYNC_THROW(ConfigError, "--weighting '", name, "': expected batch, samples or normalized");
}

const char* weighting_name(Weighting w) {
  switch (w) {
    case Weighting::batch:
      return "batch";
    case Weighting::samples:
      return "samples";
    case Weighting::normalized:
      return "normalized";
  }
  return "?";
}

Contribution contribution(Weighting w, double samples, int steps) {
  if (steps <= 0 || samples <= 0) return {};  // no step this round: nothing to average in
  const double b = samples / steps;           // this worker's batch per step
  switch (w) {
    case Weighting::samples:
      return {float(samples), float(samples), samples};
    case Weighting::normalized:
      return {float(b / steps), float(b), b};
    case Weighting::batch:
      break;
  }
  return {float(b), float(b), b};
}

Scales round_scales(Weighting w, float global_lr, double total_samples, double total_weight) {
  if (total_weight <= 0) return {};
  const auto plain = static_cast<float>(1.0 / total_weight);
  if (w != Weighting::normalized) return {global_lr * plain, plain};
  // tau_eff / W = (sum S_i / W) / W
  return {global_lr * static_cast<float>(total_samples / (total_weight * total_weight)), plain};
}

void weighted_change(float* out, const float* w, const float* ref, std::size_t n, std::size_t params,
                     const Contribution& c, const kernels::Place& at) {
  const std::size_t p = std::min(params, n);
  kernels::esync_delta(at, out, w, ref, c.param_coef, p);
  if (p < n) kernels::esync_delta(at, out + p, w + p, ref + p, c.buffer_coef, n - p);
}

void apply_average(float* w, const float* ref, const float* sum, std::size_t n, std::size_t params,
                   const Scales& s, const kernels::Place& at) {
  const std::size_t p = std::min(params, n);
  kernels::esync_apply(at, w, ref, sum, s.params, p);
  if (p < n) kernels::esync_apply(at, w + p, ref + p, sum + p, s.buffers, n - p);
}

}  // namespace esync

#pragma once
// How a model-averaging round (ESync, local-SGD) combines the workers' changes. Worker i ran
// K_i local steps on batches of B_i samples (S_i = K_i B_i samples) from the global model w_r
// and changed it by Delta_i = w_i - w_r. Each worker adds c_i Delta_i to one reduction and its
// weight a_i to a control slot; the reduction's sums give the new global model
//
//   batch       a_i = c_i = B_i              Delta = sum_i B_i Delta_i / sum_i B_i
//               (the ESync paper: equal batches give the plain mean of the changes, so every
//               worker's data counts the same whatever its speed)
//   samples     a_i = c_i = K_i B_i          Delta = sum_i S_i Delta_i / sum_i S_i
//               (Delta_i is already ~K_i steps, so this minimises sum_i K_i^2 f_i: with K 4:2:1
//               the shares are 76/19/5 %; it helps only as a larger step on iid data)
//   normalized  a_i = B_i, c_i = B_i / K_i   Delta = tau_eff sum_i (B_i / W) Delta_i / K_i,
//               tau_eff = sum_i S_i / W, W = sum_i B_i  (FedNova, Wang et al. 2020: each
//               worker's change per step, averaged, then taken tau_eff steps far)
//
//   w_{r+1} = w_r + eta_global Delta   on the parameters;
//   BatchNorm running statistics get the plain a-weighted average (eta_global = 1, c_i = a_i):
//   they are estimates, not optimised, and extrapolating them (eta != 1) can make a variance
//   negative.
// The same arithmetic runs in the allreduce path (sync/model_averaging.cpp) and on the
// parameter-server shards (src/ps/rules/sync_delta.cpp).
#include <cstddef>
#include <string>

#include "esync/place.hpp"

namespace esync {

enum class Weighting { batch, samples, normalized };

// "batch" | "samples" | "normalized"; ConfigError naming the flag otherwise.
Weighting parse_weighting(const std::string& name);
const char* weighting_name(Weighting w);
inline constexpr Weighting kDefaultWeighting = Weighting::batch;

// What one worker contributes for a round of `samples` samples in `steps` local steps.
struct Contribution {
  float param_coef = 0, buffer_coef = 0;  // c_i on the parameters, a_i on the buffers
  double weight = 0;                      // a_i, summed in the weight control slot
};
Contribution contribution(Weighting w, double samples, int steps);

// Multipliers of the summed c_i Delta_i that give eta Delta (parameters) and the plain average
// (buffers), from the round's sums of samples and of weights (0 and 0 when nobody stepped).
struct Scales {
  float params = 0, buffers = 0;
};
Scales round_scales(Weighting w, float global_lr, double total_samples, double total_weight);

// Writes out[i] = c (w[i] - ref[i]), c = param_coef below `params`, buffer_coef from there.
// `at`: where the buffers live (a GPU worker's synchroniser over NCCL keeps them on its GPU).
void weighted_change(float* out, const float* w, const float* ref, std::size_t n, std::size_t params,
                     const Contribution& c, const kernels::Place& at = kernels::Place::host());
// Writes w[i] = ref[i] + s * sum[i], s = params scale below `params`, buffers scale from there.
void apply_average(float* w, const float* ref, const float* sum, std::size_t n, std::size_t params,
                   const Scales& s, const kernels::Place& at = kernels::Place::host());

}  // namespace esync

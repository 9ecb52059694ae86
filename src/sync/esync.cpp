// ESync (seed 004). At the start of round r every worker holds w_r. Worker i runs K_i local
// optimiser steps, K_i from the state server so that fast and slow devices finish together,
// giving Delta_i = w_i - w_r. Then
//     w_{r+1} = w_r + eta_global * sum_i (n_i / sum_j n_j) Delta_i
// through one allreduce of n_i Delta_i (with n_i in a control slot), or one push of it to the
// parameter server, over the whole flat buffer: BatchNorm running statistics are averaged the
// same way.
#include <algorithm>
#include <cstring>

#include "esync/collective.hpp"
#include "esync/coord_client.hpp"
#include "esync/error.hpp"
#include "esync/kernels.hpp"
#include "model_averaging.hpp"

namespace esync::sync {

ModelAveraging::ModelAveraging(std::string mode, const SyncContext& ctx, Plan plan, StopEarly stop_early)
    : mode_(std::move(mode)), c_(ctx.collective), ps_(ctx.ps), global_lr_(ctx.global_lr), plan_(std::move(plan)),
      stop_early_(std::move(stop_early)) {}

int ModelAveraging::begin_round(std::uint64_t round, const float* w, std::size_t n, double mean_step_s) {
  w_ref_.assign(w, w + n);
  return plan_(round, mean_step_s);
}

bool ModelAveraging::end_round(float* w, std::size_t n, double samples, bool stop, SyncStats& st) {
  ESYNC_CHECK(w_ref_.size() == n, "end_round without begin_round");
  delta_.resize(n + (c_ ? control_slots(c_->size()) : 0));
  kernels::cpu::esync_delta(delta_.data(), w, w_ref_.data(), static_cast<float>(samples), n);
  if (ps_) return ps_exchange(*ps_, w, delta_.data(), samples, stop, st, ps_seen_);  // the server applies it
  const bool consensus = reduce_with_control(*c_, delta_.data(), n, samples, stop, st);
  const float scale = st.total_samples > 0 ? global_lr_ / static_cast<float>(st.total_samples) : 0.0f;
  kernels::cpu::esync_apply(w, w_ref_.data(), delta_.data(), scale, n);
  return consensus;
}

std::unique_ptr<Synchronizer> make_esync(const SyncContext& ctx) {
  ESYNC_CHECK_T(ConfigError, ctx.coordinator != nullptr, "mode esync needs the state server");
  auto* co = ctx.coordinator;
  const int k_max = ctx.k_max;
  if (ctx.policy == "poll") {
    // Original rule: keep stepping until the state server says "ready" (bounded by k_max).
    return std::make_unique<ModelAveraging>(
        "esync", ctx,
        [co, k_max](std::uint64_t round, double) {
          co->poll_start(round);
          return k_max;
        },
        [co](std::uint64_t round, double step_s) { return co->poll_ready(round, step_s); });
  }
  // assign: one report per round (last round's compute-only step time), the reply is K.
  return std::make_unique<ModelAveraging>(
      "esync", ctx, [co](std::uint64_t round, double step_s) { return std::max(1, co->report(round, 0, step_s)); },
      nullptr);
}

}  // namespace esync::sync

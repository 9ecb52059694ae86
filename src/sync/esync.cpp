// ESync (seed 004). At the start of round r every worker holds w_r. Worker i runs K_i local
// optimiser steps, K_i from the state server so that fast and slow devices finish together,
// giving Delta_i = w_i - w_r. Then
//     w_{r+1} = w_r + eta_global * sum_i (n_i / sum_j n_j) Delta_i
// through one allreduce of n_i Delta_i (with n_i in a control slot), or one push of it to the
// parameter server, over the whole flat buffer: BatchNorm running statistics are averaged the
// same way.
#include <algorithm>
#include <cstring>

#include "esync/assignment.hpp"
#include "esync/clock.hpp"
#include "esync/collective.hpp"
#include "esync/coord_client.hpp"
#include "esync/error.hpp"
#include "esync/kernels.hpp"
#include "model_averaging.hpp"

namespace esync::sync {

ModelAveraging::ModelAveraging(std::string mode, const SyncContext& ctx, Plan plan, StopEarly stop_early, Ahead ahead)
    : mode_(std::move(mode)), c_(ctx.collective), ps_(ctx.ps), global_lr_(ctx.global_lr), plan_(std::move(plan)),
      stop_early_(std::move(stop_early)), ahead_(std::move(ahead)) {}

int ModelAveraging::begin_round(std::uint64_t round, const float* w, std::size_t n, double mean_step_s) {
  w_ref_.assign(w, w + n);
  const Steps k = plan_(round, mean_step_s, steps_);
  round_ = round;
  steps_ = 0, step_sum_ = 0;
  planned_ = k.planned;
  return k.bound;
}

bool ModelAveraging::end_round(float* w, std::size_t n, double samples, bool stop, SyncStats& st) {
  ESYNC_CHECK(w_ref_.size() == n, "end_round without begin_round");
  // The next round's plan is asked for now: if the job stops at this synchronisation, the
  // state server has answered a round that never runs (its "assign" event is the last one).
  if (ahead_ && steps_ > 0 && !stop) ahead_(round_ + 1, step_sum_ / steps_, steps_);
  delta_.resize(n + (c_ ? control_slots(c_->size()) : 0));
  kernels::cpu::esync_delta(delta_.data(), w, w_ref_.data(), static_cast<float>(samples), n);
  if (ps_) return ps_exchange(*ps_, w, delta_.data(), samples, stop, st, ps_seen_);  // the server applies it
  const bool consensus = reduce_with_control(*c_, delta_.data(), n, samples, stop, st);
  const float scale = st.total_samples > 0 ? global_lr_ / static_cast<float>(st.total_samples) : 0.0f;
  kernels::cpu::esync_apply(w, w_ref_.data(), delta_.data(), scale, n);
  return consensus;
}

namespace {

// Deadline policy, worker side (rule and math: coord::deadline_takes_step). The round's clock
// starts when the plan arrives; the next step is expected to take the mean of this round's steps
// so far, blended with the last round's mean (a single step is a noisy estimate).
struct DeadlineRound {
  coord::CoordinatorClient::RoundPlan plan;
  double start = 0, last_mean = 0;

  ModelAveraging::Steps begin(coord::CoordinatorClient& co, std::uint64_t round, double mean_step_s, int k_done,
                              int k_max) {
    plan = co.report_plan(round, k_done, mean_step_s);
    start = mono_s();
    last_mean = mean_step_s;
    return {plan.deadline_s > 0 ? k_max : plan.k, plan.k};  // the pacer does exactly k
  }
  bool stop(int steps, double step_sum) const {
    if (plan.deadline_s <= 0) return false;
    const double expect = (step_sum + last_mean) / (steps + (last_mean > 0 ? 1 : 0));
    return !coord::deadline_takes_step(mono_s() - start, expect, plan.deadline_s, plan.share);
  }
};

}  // namespace

std::unique_ptr<Synchronizer> make_esync(const SyncContext& ctx) {
  ESYNC_CHECK_T(ConfigError, ctx.coordinator != nullptr, "mode esync needs the state server");
  auto* co = ctx.coordinator;
  const int k_max = ctx.k_max;
  if (ctx.policy == "poll") {
    // Original rule: keep stepping until the state server says "ready" (bounded by k_max).
    return std::make_unique<ModelAveraging>(
        "esync", ctx,
        [co, k_max](std::uint64_t round, double, int) {
          co->poll_start(round);
          return ModelAveraging::Steps{k_max, k_max};
        },
        [co](std::uint64_t round, double step_s, int, double) { return co->poll_ready(round, step_s); });
  }
  // assign and deadline: one report per round (the last round's device step time and steps),
  // sent ahead of the synchronisation; the reply is the plan.
  auto ahead = [co](std::uint64_t round, double step_s, int k_done) { co->report_ahead(round, k_done, step_s); };
  if (ctx.policy == "deadline") {
    auto d = std::make_shared<DeadlineRound>();
    return std::make_unique<ModelAveraging>(
        "esync", ctx,
        [co, d, k_max](std::uint64_t round, double step_s, int k_done) { return d->begin(*co, round, step_s, k_done, k_max); },
        [d](std::uint64_t, double, int steps, double step_sum) { return d->stop(steps, step_sum); }, ahead);
  }
  return std::make_unique<ModelAveraging>(
      "esync", ctx,
      [co](std::uint64_t round, double step_s, int k_done) {
        const int k = co->report(round, k_done, step_s);
        return ModelAveraging::Steps{k, k};
      },
      nullptr, ahead);
}

}  // namespace esync::sync

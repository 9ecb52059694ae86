// ESync (seed 004). At the start of round r every worker holds w_r. Worker i runs K_i local
// optimiser steps, K_i from the state server so that fast and slow devices finish together,
// giving Delta_i = w_i - w_r. Then
//     w_{r+1} = w_r + eta_global * sum_i (n_i / sum_j n_j) Delta_i
// through one allreduce of n_i Delta_i (with n_i in a control slot), or one push of it to the
// parameter server, over the whole flat buffer: BatchNorm running statistics are averaged the
// same way (the round itself: model_averaging.cpp). This file: where K_i comes from.
#include "esync/assignment.hpp"
#include "esync/clock.hpp"
#include "esync/coord_client.hpp"
#include "esync/error.hpp"
#include "model_averaging.hpp"

namespace esync::sync {

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

#include "simulate_plan.hpp"

namespace esync::sim {

RoundPlanner::RoundPlanner(const SimConfig& cfg, const std::vector<double>& means)
    : cfg_(cfg),
      source_(find_mode(cfg.mode).k),
      policy_(static_cast<int>(means.size()), cfg.k_base, cfg.k_max, cfg.ema_alpha),
      last_mean_(means.size(), 0.0) {
  if (!cfg.ema_assign)
    for (std::size_t i = 0; i < means.size(); ++i) policy_.report(static_cast<int>(i), means[i]);
}

RoundPlanner::Steps RoundPlanner::run(int i, std::uint64_t round, const std::function<double()>& draw) {
  Steps s;
  const auto exactly = [&](int k) {
    for (s.k = 0; s.k < k; ++s.k) s.compute += draw();
    return s;
  };
  if (source_ == KSource::one) return exactly(1);
  if (source_ == KSource::fixed) return exactly(cfg_.k_fixed);
  if (cfg_.policy != "deadline") {
    if (planned_round_ != round) k_ = policy_.plan(), planned_round_ = round;
    return exactly(k_[static_cast<std::size_t>(i)]);
  }
  const auto plan = deadline_.plan(policy_, i, round);
  if (plan.deadline_s <= 0) return exactly(plan.k);
  // As the worker does: a step, then the rule with the next step expected to take the mean of
  // this round's steps blended with the last round's mean.
  const double last = last_mean_[static_cast<std::size_t>(i)];
  do {
    s.compute += draw(), ++s.k;
  } while (s.k < cfg_.k_max &&
           coord::deadline_takes_step(s.compute, (s.compute + last) / (s.k + (last > 0 ? 1 : 0)),
                                      plan.deadline_s, plan.share));
  return s;
}

void RoundPlanner::report(int i, double mean_step_s) {
  last_mean_[static_cast<std::size_t>(i)] = mean_step_s;
  if (cfg_.ema_assign) policy_.report(i, mean_step_s);
}

}  // namespace esync::sim

#pragma once
// The K of each simulated round, from the mode's K source (modes.hpp) and, for ESync, the state
// server's own policies (coord::AssignPolicy, coord::DeadlinePlanner, coord::deadline_takes_step),
// so the model plans exactly as a job does.
//   ssgd, asgd, dcasgd: 1 step; local-sgd: k_fixed;
//   esync, assign:   K_i = clamp(round(T / c_i), 1, K_max), T = K_base * max_i c_i;
//   esync, deadline: the round's pacer (the slowest) runs K_base; every other worker steps while
//                    deadline_takes_step says a step still fits in T (at most K_max).
// c_i is the state server's EMA of the mean step time each worker reports after a round (round 0,
// nothing reported: K_base for everyone), or, without ema_assign, each worker's true mean from the
// start: the plan the EMA converges to.
#include <cstdint>
#include <functional>
#include <vector>

#include "esync/assignment.hpp"
#include "esync/modes.hpp"
#include "esync/simulate.hpp"

namespace esync::sim {

class RoundPlanner {
 public:
  // means: each worker's true mean step time.
  RoundPlanner(const SimConfig& cfg, const std::vector<double>& means);
  struct Steps {
    int k = 0;
    double compute = 0;  // their summed time
  };
  // Worker i's steps in `round`, its step times drawn by `draw`.
  Steps run(int i, std::uint64_t round, const std::function<double()>& draw);
  // After the round: worker i reports its mean step time.
  void report(int i, double mean_step_s);

 private:
  const SimConfig& cfg_;
  KSource source_;
  coord::AssignPolicy policy_;
  coord::DeadlinePlanner deadline_;
  std::uint64_t planned_round_ = ~std::uint64_t{0};
  std::vector<int> k_;             // the assign plan of planned_round_
  std::vector<double> last_mean_;  // each worker's mean step time in its last round (0: none yet)
};

}  // namespace esync::sim

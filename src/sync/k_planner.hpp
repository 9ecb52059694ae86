#pragma once
// Where a model-averaging round's K (its local steps) comes from, one interface for every source
// the mode table names (modes.hpp, KSource): a fixed K (local-SGD), or the state server's plan
// by --policy (ESync): assign, deadline, poll.
#include <cstdint>
#include <memory>

#include "esync/modes.hpp"
#include "esync/synchronizer.hpp"

namespace esync::sync {

class KPlanner {
 public:
  // The round's steps: `bound` ends the loop (stop_after may end it sooner), `planned` is what the
  // logs call K_assigned.
  struct Steps {
    int bound, planned;
  };
  virtual ~KPlanner() = default;
  // At the start of `round`; k_done: the steps this worker took in the previous round, whose mean
  // device step time was mean_step_s.
  virtual Steps begin(std::uint64_t round, double mean_step_s, int k_done) = 0;
  // After each step: the step's device time, the round's steps and device time so far. True ends
  // the round now.
  virtual bool stop_after(std::uint64_t round, double step_s, int steps, double step_sum) { return false; }
  // Before this round's synchronisation, with this round's mean step time: a planner that asks
  // for the next round's plan here overlaps its round trip with the reduction.
  virtual void ahead(std::uint64_t next_round, double mean_step_s, int k_done) {}
};

// ConfigError when the source needs what ctx lacks (the state server, a K >= 1).
std::unique_ptr<KPlanner> make_k_planner(KSource source, const SyncContext& ctx);

}  // namespace esync::sync

// DeadlinePlanner (assignment.hpp): the deadline policy's pacer and round length, decided once
// per round.

#include "esync/assignment.hpp"

namespace esync::coord {

DeadlinePlanner::Plan DeadlinePlanner::plan(const AssignPolicy& policy, int rank, std::uint64_t round) {
  auto it = rounds_.find(round);
  if (it == rounds_.end()) {
    it = rounds_.emplace(round, Decided{policy.slowest(), policy.round_time()}).first;
    // Reports of round r and r + 1 can interleave (a worker asks for its next plan before the
    // synchronisation); older rounds are over.
    while (rounds_.size() > 4) rounds_.erase(rounds_.begin());
  }
  const Decided& d = it->second;
  Plan p;
  p.k = policy.plan()[static_cast<std::size_t>(rank)];
  const bool pacer = d.pacer == rank || !policy.has_step_time(rank) || d.pacer < 0;
  p.deadline_s = pacer ? 0.0 : d.t_round;
  // The pacer does exactly K_base steps, T = K_base x its step time as known when the round was
  // decided.
  if (d.pacer == rank) p.k = policy.k_base();
  p.share = policy.share(rank);
  return p;
}

}  // namespace esync::coord

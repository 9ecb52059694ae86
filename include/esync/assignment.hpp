#pragma once
// The state server's local-iteration assignment, as pure logic: no sockets, no
// clock of its own. Every time comes in as an argument, so the coordinator passes its steady
// clock and the tests pass a simulated one. The math of both rules is at the top of
// src/coord/assignment.cpp.
//
//  - AssignPolicy (default): before each round the coordinator hands every worker its K_i.
//    One message per round; the slowest worker does K_base steps, the others as many as fit.
//  - PollPolicy (the original ESync rule): after every local step a worker asks "ready?"; the
//    answer says whether one more step would still end before the slowest worker's step does.
//  - deadline: AssignPolicy's plan plus the round's length T; the slowest worker (the pacer) does
//    exactly K_base steps, every other one steps until T is used up (deadline_takes_step), so a
//    worker slower this round than its EMA says does fewer steps instead of making all wait.
//
// Step times are compute-only seconds per local step (injected delays excluded), smoothed by an
// EMA that survives across rounds. Bad arguments throw esync::ConfigError.
#include <cstdint>
#include <map>
#include <vector>

#include "esync/job_config.hpp"

namespace esync::coord {

// Exponential moving average of one worker's step time: the first sample initialises it.
struct StepTimeEma {
  double value = 0.0;
  bool known = false;
  void add(double sample, double alpha);
};

class AssignPolicy {
 public:
  AssignPolicy(int workers, int k_base, int k_max, double alpha = 0.3);

  // Folds one compute-only per-step time of `rank` (seconds, >= 0) into its EMA.
  void report(int rank, double step_s);
  void forget(int rank);  // a lost worker: its speed no longer sets the round's length
  // K_i for the next round, one per rank: clamp(round(T / c_i), 1, k_max), T = k_base * max c.
  std::vector<int> plan() const;

  // The round's planned length T = K_base * max c (seconds; 0 before any report).
  double round_time() const;
  // rank's share of the job's steps per second, (1 / c_rank) / sum_j (1 / c_j) over the workers
  // with a report (1 for an unknown or zero step time, which sets no useful share).
  double share(int rank) const;

  // The EMA of `rank`'s step time; 0 until its first report (see has_step_time).
  double step_time(int rank) const;
  bool has_step_time(int rank) const;
  // Rank with the largest EMA step time (lowest rank on ties), -1 before any report.
  int slowest() const;

  int workers() const { return static_cast<int>(ema_.size()); }
  int k_base() const { return k_base_; }
  int k_max() const { return k_max_; }

 private:
  void check_rank(int rank) const;

  int k_base_;
  int k_max_;
  double alpha_;
  std::vector<StepTimeEma> ema_;
};

// The deadline policy's rule, run by a non-pacer worker after each local step: `elapsed` seconds
// of the round are gone, its next step should take `step_s`, the round lasts `t_round`, and
// `share` is this worker's part of the job's throughput. Take another step iff
//     t_round - elapsed > step_s * (1 - share)
// (math and why in assignment.cpp). Bad arguments throw ConfigError.
bool deadline_takes_step(double elapsed, double step_s, double t_round, double share);

// The deadline policy's plan for one worker's report. The pacer and the round's length T are
// decided once per round, by the round's first report, from the step times known then: every
// worker of the round is told the same T, and exactly one known worker paces it (does exactly
// K_base steps), whatever the later reports of the same round change in the EMAs. (Decided per
// report, a round could get no pacer or two when the slowest changed between two reports.)
// A worker with no step time yet also does exactly its K (nothing better is known of it).
class DeadlinePlanner {
 public:
  struct Plan {
    int k = 1;
    double deadline_s = 0;  // 0: run exactly k (the pacer); else stop by deadline_takes_step
    double share = 1;
  };
  // `policy` has already folded this report's step time in.
  Plan plan(const AssignPolicy& policy, int rank, std::uint64_t round);

 private:
  struct Decided {
    int pacer = -1;
    double t_round = 0;
  };
  std::map<std::uint64_t, Decided> rounds_;  // the last few rounds (reports of two may interleave)
};

class PollPolicy {
 public:
  explicit PollPolicy(int workers, double eps_factor = 0.5, double alpha = 0.3);

  // Every worker begins round `round` at `now`: the common case after a synchronous aggregation.
  void start_round(std::uint64_t round, double now);
  // One worker begins round `round` at `now` (its reset message). A round newer than the
  // current one resets everyone's step count and ready flag; EMAs are kept. Rounds never go back.
  void join_round(int rank, std::uint64_t round, double now);
  // `rank` starts a local step at `now` (after being told "not ready").
  void step_started(int rank, double now);
  // `rank` finished a step of `step_s` seconds at `now`: k_i++, EMA update, and its next step is
  // assumed to start at `now` until step_started says otherwise.
  void step_done(int rank, double step_s, double now);
  // The rule. A "yes" is remembered until the next round: the worker then stops and waits.
  bool ready(int rank, double now);

  int steps(int rank) const;
  bool is_ready(int rank) const;  // what ready() last answered this round, without asking again
  bool all_ready() const;         // the round can be aggregated
  double step_time(int rank) const;
  bool has_step_time(int rank) const;
  // Rank with the largest EMA step time among those that have one (lowest rank on ties), or -1.
  int slowest() const;
  std::uint64_t round() const { return round_; }
  int workers() const { return static_cast<int>(w_.size()); }

 private:
  static constexpr std::uint64_t kNoRound = ~std::uint64_t{0};
  struct Worker {
    StepTimeEma ema;
    int steps = 0;                   // k_i, local steps done in the current round
    bool ready = false;              // latched "yes" of ready()
    std::uint64_t round = kNoRound;  // last round this worker started
    double step_start = 0.0;         // t_i: start of its current step
  };
  void check_rank(int rank) const;
  bool started_current(const Worker& w) const { return w.round == round_ && round_ != kNoRound; }

  double eps_factor_;
  double alpha_;
  std::uint64_t round_ = kNoRound;
  std::vector<Worker> w_;
};

}  // namespace esync::coord

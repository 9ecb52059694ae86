// The state server's local-iteration assignment. Notation: M workers, worker i,
// c_i its EMA step time (compute only, seconds), k_i the local steps it has done this round.
//
// EMA (both policies): the first sample initialises c_i; afterwards c_i <- α·x + (1 − α)·c_i,
// α = 0.3. It is never reset between rounds: a device's speed is a property of the device.
//
// AssignPolicy, before round r:
//   c_max = max over workers with a report of c_i;   T = K_base · c_max
//   K_i = clamp(round(T / c_i), 1, K_max)   for a worker with a report
//   K_i = K_base                            for a worker without one (nothing better is known;
//                                           if nobody has reported, everyone gets K_base)
//   c_i = 0 (a step below clock resolution): T / c_i = ∞, so K_i = K_max; if c_max = 0 too,
//   all reported devices are equally fast and get K_base.
//   Since T ≥ K_base · c_i, T / c_i ≥ K_base ≥ 1: the lower clamp only guards rounding, and the
//   slowest device always gets exactly K_base. round() is half away from zero.
//
// Deadline policy (AssignPolicy's plan, run against the clock): the coordinator also sends
// T = K_base · c_max and share_i = (1/c_i) / Σ_j (1/c_j), worker i's part of the job's steps per
// second. The pacer (the slowest) does exactly K_base steps. Every other worker, after each step,
// with r = T − elapsed left and ĉ its expected next step:
//   stop now: it idles r, losing r · v_i of work (v_i its throughput, V the job's);
//   one more: if ĉ > r the round ends ĉ − r later for all the others, losing (ĉ − r)(V − v_i).
//   Take it iff r · v_i > (ĉ − r)(V − v_i)  ⇔  r > ĉ · (1 − share_i).
// A fixed K_i = T / c_i is right only on average; against the clock a worker that runs slower
// this round (contention, a noisy neighbour) does fewer steps instead of holding up the pacer.
//
// PollPolicy, worker i asks ready(i, now) after each step (and before its first). Let s be the
// slowest worker, the largest c among workers that have one, and t_s the start of s's current
// step (its round start, then the end of each of its steps unless step_started moves it).
//   (0) i already answered "ready" this round          → ready (it has stopped and waits)
//   (1) k_i = 0                                       → not ready (every worker does ≥ 1 step)
//   (2) s has not started round r                     → not ready (its remaining time is unknown)
//   (3) i = s                                         → ready (the slowest sets the pace: 1 step)
//   (4) s already answered "ready"                    → ready (s takes no more steps to wait for)
//   (5) c_i + ε > remaining_s = c_s − (now − t_s),  ε = eps_factor · c_i
//                                                     → ready (another step would not end at
//                                                        least ε before s ends: it would make the
//                                                        round longer or leave no margin)
//   (6) otherwise                                     → not ready (take another step)
// "No step time known": k_i > 0 means step_done ran for i, so c_i is known and s exists. With
// nobody else known yet, s = i and (3) makes a worker ready after its first step: a warm-up
// round. (The original server knew c_i before round 1 from a timed forward pass, used the last
// step's time instead of an EMA, and a fixed ε = 0.5 s.)
// Note on exact ratios: with c = 1, 2, 4 s the fast worker's 4th step would end exactly when
// s ends (remaining = c_i), and any ε > 0 stops it, so this rule yields 3:1:1; ε = 0 yields
// 4:2:1. ε trades up to one step per round for never making the slowest worker wait.
#include "esync/assignment.hpp"

#include <algorithm>
#include <cmath>

#include "esync/error.hpp"

namespace esync::coord {

namespace {

void check_time(double t, const char* what) {
  ESYNC_CHECK_T(ConfigError, std::isfinite(t) && t >= 0.0, what, " must be a finite time >= 0 s, got ", t);
}

void check_alpha(double alpha) {
  ESYNC_CHECK_T(ConfigError, std::isfinite(alpha) && alpha > 0.0 && alpha <= 1.0,
                "EMA alpha must be in (0, 1], got ", alpha);
}

// Largest known EMA, lowest rank on ties; -1 when none is known.
template <typename Get>
int argmax_known(int n, Get get) {
  int best = -1;
  for (int r = 0; r < n; ++r) {
    const StepTimeEma& e = get(r);
    if (e.known && (best < 0 || e.value > get(best).value)) best = r;
  }
  return best;
}

}  // namespace

void StepTimeEma::add(double sample, double alpha) {
  value = known ? alpha * sample + (1.0 - alpha) * value : sample;
  known = true;
}

// ---------------------------------------------------------------------------------- AssignPolicy

AssignPolicy::AssignPolicy(int workers, int k_base, int k_max, double alpha)
    : k_base_(k_base), k_max_(k_max), alpha_(alpha) {
  ESYNC_CHECK_T(ConfigError, workers >= 1, "assign policy needs at least one worker, got ", workers);
  ESYNC_CHECK_T(ConfigError, k_base >= 1, "K_base must be >= 1, got ", k_base);
  ESYNC_CHECK_T(ConfigError, k_max >= k_base, "K_max (", k_max, ") must be >= K_base (", k_base, ")");
  check_alpha(alpha);
  ema_.resize(static_cast<std::size_t>(workers));
}

void AssignPolicy::check_rank(int rank) const {
  ESYNC_CHECK_T(ConfigError, rank >= 0 && rank < workers(), "rank ", rank, " out of range [0, ", workers(),
                ")");
}

void AssignPolicy::report(int rank, double step_s) {
  check_rank(rank);
  check_time(step_s, "step time");
  ema_[static_cast<std::size_t>(rank)].add(step_s, alpha_);
}

std::vector<int> AssignPolicy::plan() const {
  std::vector<int> k(ema_.size(), k_base_);
  const int s = slowest();
  if (s < 0) return k;  // nobody has reported: no speeds to compare
  const double t_round = k_base_ * ema_[static_cast<std::size_t>(s)].value;
  for (std::size_t i = 0; i < ema_.size(); ++i) {
    if (!ema_[i].known) continue;  // keeps K_base
    const double c = ema_[i].value;
    if (c <= 0.0) {
      k[i] = t_round > 0.0 ? k_max_ : k_base_;
      continue;
    }
    // Clamp in double before converting so a huge ratio cannot overflow the int.
    const double ratio = std::clamp(t_round / c, 1.0, static_cast<double>(k_max_));
    k[i] = static_cast<int>(std::lround(ratio));
  }
  return k;
}

void AssignPolicy::forget(int rank) {
  check_rank(rank);
  ema_[static_cast<std::size_t>(rank)] = StepTimeEma{};
}

double AssignPolicy::round_time() const {
  const int s = slowest();
  return s < 0 ? 0.0 : k_base_ * ema_[static_cast<std::size_t>(s)].value;
}

double AssignPolicy::share(int rank) const {
  check_rank(rank);
  const StepTimeEma& mine = ema_[static_cast<std::size_t>(rank)];
  if (!mine.known || mine.value <= 0.0) return 1.0;
  double rate = 0.0;
  for (const StepTimeEma& e : ema_)
    if (e.known && e.value > 0.0) rate += 1.0 / e.value;
  return (1.0 / mine.value) / rate;
}

bool deadline_takes_step(double elapsed, double step_s, double t_round, double share) {
  check_time(elapsed, "elapsed time");
  check_time(step_s, "step time");
  check_time(t_round, "round time");
  ESYNC_CHECK_T(ConfigError, std::isfinite(share) && share > 0.0 && share <= 1.0,
                "throughput share must be in (0, 1], got ", share);
  return t_round - elapsed > step_s * (1.0 - share);
}

double AssignPolicy::step_time(int rank) const {
  check_rank(rank);
  return ema_[static_cast<std::size_t>(rank)].value;
}

bool AssignPolicy::has_step_time(int rank) const {
  check_rank(rank);
  return ema_[static_cast<std::size_t>(rank)].known;
}

int AssignPolicy::slowest() const {
  return argmax_known(workers(),
                      [this](int r) -> const StepTimeEma& { return ema_[static_cast<std::size_t>(r)]; });
}

// ------------------------------------------------------------------------------------ PollPolicy

PollPolicy::PollPolicy(int workers, double eps_factor, double alpha)
    : eps_factor_(eps_factor), alpha_(alpha) {
  ESYNC_CHECK_T(ConfigError, workers >= 1, "poll policy needs at least one worker, got ", workers);
  ESYNC_CHECK_T(ConfigError, std::isfinite(eps_factor) && eps_factor >= 0.0,
                "epsilon factor must be a finite value >= 0, got ", eps_factor);
  check_alpha(alpha);
  w_.resize(static_cast<std::size_t>(workers));
}

void PollPolicy::check_rank(int rank) const {
  ESYNC_CHECK_T(ConfigError, rank >= 0 && rank < workers(), "rank ", rank, " out of range [0, ", workers(),
                ")");
}

void PollPolicy::start_round(std::uint64_t round, double now) {
  for (int r = 0; r < workers(); ++r) join_round(r, round, now);
}

void PollPolicy::join_round(int rank, std::uint64_t round, double now) {
  check_rank(rank);
  check_time(now, "round start");
  ESYNC_CHECK_T(ConfigError, round != kNoRound, "round number ", round, " is reserved");
  ESYNC_CHECK_T(ConfigError, round_ == kNoRound || round >= round_, "rank ", rank, " starts round ", round,
                " but round ", round_, " has already begun");
  if (round_ == kNoRound || round > round_) {
    // The first worker into a new round resets everyone, as the original reset handler did.
    round_ = round;
    for (Worker& w : w_) {
      w.steps = 0;
      w.ready = false;
    }
  }
  Worker& w = w_[static_cast<std::size_t>(rank)];
  w.round = round;
  w.step_start = now;
}

void PollPolicy::step_started(int rank, double now) {
  check_rank(rank);
  check_time(now, "step start");
  Worker& w = w_[static_cast<std::size_t>(rank)];
  ESYNC_CHECK_T(ConfigError, started_current(w), "rank ", rank, " starts a step before joining the round");
  w.step_start = now;
}

void PollPolicy::step_done(int rank, double step_s, double now) {
  check_rank(rank);
  check_time(step_s, "step time");
  check_time(now, "step end");
  Worker& w = w_[static_cast<std::size_t>(rank)];
  ESYNC_CHECK_T(ConfigError, started_current(w), "rank ", rank, " reports a step before joining the round");
  ++w.steps;
  w.ema.add(step_s, alpha_);
  w.step_start = now;  // the worker goes straight on unless told it is ready
}

bool PollPolicy::ready(int rank, double now) {
  check_rank(rank);
  check_time(now, "query time");
  Worker& w = w_[static_cast<std::size_t>(rank)];
  if (w.ready) return true;        // (0)
  if (w.steps == 0) return false;  // (1)
  const int s = slowest();         // >= 0: k_i > 0 implies c_i is known
  const Worker& ws = w_[static_cast<std::size_t>(s)];
  if (!started_current(ws)) return false;  // (2)
  const double c_i = w.ema.value;
  const double eps = eps_factor_ * c_i;
  const double remaining = ws.ema.value - (now - ws.step_start);
  w.ready = s == rank || ws.ready || c_i + eps > remaining;  // (3), (4), (5); else (6)
  return w.ready;
}

int PollPolicy::steps(int rank) const {
  check_rank(rank);
  return w_[static_cast<std::size_t>(rank)].steps;
}

bool PollPolicy::is_ready(int rank) const {
  check_rank(rank);
  return w_[static_cast<std::size_t>(rank)].ready;
}

bool PollPolicy::all_ready() const {
  return std::all_of(w_.begin(), w_.end(), [](const Worker& w) { return w.ready; });
}

double PollPolicy::step_time(int rank) const {
  check_rank(rank);
  return w_[static_cast<std::size_t>(rank)].ema.value;
}

bool PollPolicy::has_step_time(int rank) const {
  check_rank(rank);
  return w_[static_cast<std::size_t>(rank)].ema.known;
}

int PollPolicy::slowest() const {
  return argmax_known(workers(),
                      [this](int r) -> const StepTimeEma& { return w_[static_cast<std::size_t>(r)].ema; });
}

}  // namespace esync::coord

// The deadline policy (assign's plan run against the clock, src/coord/assignment.cpp) against
// the plain assign policy, in a simulated cluster: devices 1 : 2 : 4, each step jittered, and each
// round every device runs at a speed drawn for the round (contention that an EMA cannot predict).
// Waste = the device time spent waiting for the round's last arrival.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "esync/assignment.hpp"
#include "esync/error.hpp"

using esync::ConfigError;
using esync::coord::AssignPolicy;
using esync::coord::deadline_takes_step;

namespace {

struct Outcome {
  std::vector<double> mean_k;  // steps per round, per worker
  double steps_per_s = 0;      // the job's throughput
  double waste = 0;            // share of device time spent waiting for the last arrival
};

// `deadline`: non-pacers step while deadline_takes_step allows (with the worker-side estimate of
// the next step as in src/sync/k_planners.cpp), the pacer does exactly K_base; otherwise fixed K_i.
Outcome simulate(bool deadline, int rounds, double round_spread, double step_jitter) {
  const std::vector<double> c{1.0, 2.0, 4.0};
  const int n = 3;
  AssignPolicy p(n, 4, 64);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> spread(1 - round_spread, 1 + round_spread),
      jitter(1 - step_jitter, 1 + step_jitter);
  std::vector<double> last_mean(n, 0.0);
  Outcome o;
  o.mean_k.assign(n, 0.0);
  double wall = 0, steps = 0, idle = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto k = p.plan();
    const double t_round = p.round_time();
    const int pacer = p.slowest();
    std::vector<double> busy(n, 0.0);
    std::vector<int> done(n, 0);
    for (int i = 0; i < n; ++i) {
      const double speed = spread(rng);
      const bool runs_to_deadline = deadline && pacer >= 0 && i != pacer;
      const double share = runs_to_deadline ? p.share(i) : 1.0;
      for (;;) {
        busy[i] += c[static_cast<std::size_t>(i)] * speed * jitter(rng);
        ++done[i];
        if (!runs_to_deadline) {
          if (done[i] == k[static_cast<std::size_t>(i)]) break;
          continue;
        }
        const double expect = (busy[i] + last_mean[i]) / (done[i] + (last_mean[i] > 0 ? 1 : 0));
        if (done[i] == 64 || !deadline_takes_step(busy[i], expect, t_round, share)) break;
      }
    }
    const double end = *std::max_element(busy.begin(), busy.end());
    for (int i = 0; i < n; ++i) {
      last_mean[i] = busy[i] / done[i];
      p.report(i, last_mean[i]);
      if (r >= 4) {  // after the EMAs warm up
        o.mean_k[i] += done[i] / double(rounds - 4);
        idle += end - busy[i];
        steps += done[i];
      }
    }
    if (r >= 4) wall += end;
  }
  o.steps_per_s = steps / wall;
  o.waste = idle / (n * wall);
  return o;
}

}  // namespace

TEST(Deadline, RuleTakesAStepWhenItsExpectedLossIsSmaller) {
  // Time left covers the whole step: always.
  EXPECT_TRUE(deadline_takes_step(0.0, 1.0, 4.0, 0.5));
  EXPECT_TRUE(deadline_takes_step(2.9, 1.0, 4.0, 0.01));
  // 0.4 s left of a 1 s step: worth it for a worker doing most of the job's work (0.4 > 0.3),
  // not for one doing little (0.4 < 0.9): its lateness would idle everyone else.
  EXPECT_TRUE(deadline_takes_step(3.6, 1.0, 4.0, 0.7));
  EXPECT_FALSE(deadline_takes_step(3.6, 1.0, 4.0, 0.1));
  // Past the deadline, or exactly at it: never.
  EXPECT_FALSE(deadline_takes_step(4.5, 1.0, 4.0, 0.9));
  EXPECT_FALSE(deadline_takes_step(4.0, 1.0, 4.0, 1.0));
  // A lone worker (share 1) uses the round to its end.
  EXPECT_TRUE(deadline_takes_step(3.99, 1.0, 4.0, 1.0));
}

TEST(Deadline, RoundTimeAndShareFollowTheEmas) {
  AssignPolicy p(4, 4, 64);
  EXPECT_EQ(p.round_time(), 0.0) << "no report yet";
  EXPECT_EQ(p.share(0), 1.0);
  p.report(0, 1.0);
  p.report(1, 2.0);
  p.report(2, 4.0);
  EXPECT_DOUBLE_EQ(p.round_time(), 16.0);
  // Steps per second 1, 1/2, 1/4 of 7/4: shares 4/7, 2/7, 1/7; rank 3 has not reported.
  EXPECT_DOUBLE_EQ(p.share(0), 4.0 / 7);
  EXPECT_DOUBLE_EQ(p.share(1), 2.0 / 7);
  EXPECT_DOUBLE_EQ(p.share(2), 1.0 / 7);
  EXPECT_EQ(p.share(3), 1.0);
  p.forget(2);
  EXPECT_DOUBLE_EQ(p.round_time(), 8.0) << "the slowest survivor sets the round";
  EXPECT_DOUBLE_EQ(p.share(0), 2.0 / 3);
}

TEST(Deadline, InvalidArgumentsThrow) {
  EXPECT_THROW(deadline_takes_step(-1.0, 1.0, 4.0, 0.5), ConfigError);
  EXPECT_THROW(deadline_takes_step(0.0, 1.0, 4.0, 0.0), ConfigError);
  EXPECT_THROW(deadline_takes_step(0.0, 1.0, 4.0, 1.5), ConfigError);
  EXPECT_THROW(deadline_takes_step(0.0, 1.0, -4.0, 0.5), ConfigError);
}

// Without noise the two policies agree: K = 16 : 8 : 4 and nobody waits.
TEST(Deadline, ExactSpeedsGiveTheAssignPlan) {
  for (bool deadline : {false, true}) {
    const Outcome o = simulate(deadline, 20, 0.0, 0.0);
    EXPECT_NEAR(o.mean_k[0], 16, 1e-9);
    EXPECT_NEAR(o.mean_k[1], 8, 1e-9);
    EXPECT_NEAR(o.mean_k[2], 4, 1e-9);
    EXPECT_LT(o.waste, 1e-9);
  }
}

// With per-round contention (±15 %) and per-step jitter (±10 %), a fixed K makes the round wait
// for whoever ran slow; the deadline rule cuts that waste and raises throughput, while its mean
// K stays within 25 % of 4 : 2 : 1.
TEST(Deadline, UnderContentionWastesLessThanFixedK) {
  const Outcome a = simulate(false, 400, 0.15, 0.10), d = simulate(true, 400, 0.15, 0.10);
  std::printf("[ deadline ] waste %.3f vs assign %.3f; steps/s %.4f vs %.4f; K %.2f:%.2f:%.2f\n", d.waste,
              a.waste, d.steps_per_s, a.steps_per_s, d.mean_k[0], d.mean_k[1], d.mean_k[2]);
  EXPECT_LT(d.waste, 0.75 * a.waste);
  EXPECT_GT(d.steps_per_s, a.steps_per_s);
  EXPECT_NEAR(d.mean_k[0] / d.mean_k[2], 4.0, 1.0);
  EXPECT_NEAR(d.mean_k[1] / d.mean_k[2], 2.0, 0.5);
}

// The pacer and T are decided once per round: when the slowest changes between two reports of
// the same round, the round still has exactly one pacer and one T (decided per report it got two
// pacers in one order of arrival and none in the other).
TEST(DeadlinePlanner, OnePacerAndOneRoundTimePerRoundWhateverTheOrderOfReports) {
  for (const bool slow_first : {true, false}) {
    AssignPolicy p(2, 2, 64);
    esync::coord::DeadlinePlanner planner;
    p.report(0, 1.0), p.report(1, 2.0);  // rank 1 the slowest
    // Round 5: rank 0 reports a slow step (EMA 0.3 x 10 + 0.7 x 1 = 3.7: now the slowest), then
    // rank 1 an even slower one (0.3 x 20 + 0.7 x 2 = 7.4) -- or the other way round.
    std::vector<esync::coord::DeadlinePlanner::Plan> got(2);
    const std::vector<std::pair<int, double>> reports =
        slow_first ? std::vector<std::pair<int, double>>{{0, 10.0}, {1, 20.0}}
                   : std::vector<std::pair<int, double>>{{1, 20.0}, {0, 10.0}};
    for (const auto& [rank, step] : reports) {
      p.report(rank, step);
      got[static_cast<std::size_t>(rank)] = planner.plan(p, rank, 5);
    }
    const int pacers = (got[0].deadline_s == 0) + (got[1].deadline_s == 0);
    EXPECT_EQ(pacers, 1) << "reports " << (slow_first ? "0 then 1" : "1 then 0");
    const double t = std::max(got[0].deadline_s, got[1].deadline_s);
    EXPECT_GT(t, 0.0);
    // The pacer is the slowest known when the round's first report came, and fills T exactly.
    const int pacer = got[0].deadline_s == 0 ? 0 : 1;
    EXPECT_EQ(pacer, slow_first ? 0 : 1);
    EXPECT_EQ(got[static_cast<std::size_t>(pacer)].k, 2);
    // The next round decides afresh from everything known by then (rank 1 is the slowest).
    p.report(0, 1.0);
    EXPECT_EQ(planner.plan(p, 0, 6).deadline_s, p.round_time());
    EXPECT_EQ(planner.plan(p, 1, 6).deadline_s, 0.0);
  }
}

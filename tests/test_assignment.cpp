// State server assignment rules driven by a simulated clock: a discrete-event
// simulation where worker i's steps take c_i seconds, optionally with seeded uniform jitter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "esync/assignment.hpp"
#include "esync/error.hpp"

using esync::ConfigError;
using esync::coord::AssignPolicy;
using esync::coord::PollPolicy;

namespace {

using K = std::vector<int>;
const K kIdeal{4, 2, 1};

// Worker i's step takes c[i] · (1 + U(−jitter, jitter)) seconds of simulated time.
struct Devices {
  std::vector<double> c;
  double jitter = 0.0;
  std::mt19937_64 rng{12345};
  double draw(int i) {
    return c[i] * (jitter == 0.0 ? 1.0 : 1.0 + std::uniform_real_distribution<double>(-jitter, jitter)(rng));
  }
};

// Assign policy: before each round take the plan; worker i runs K_i steps and reports its mean.
std::vector<K> simulate_assign(AssignPolicy& p, Devices& d, int rounds) {
  std::vector<K> out;
  for (int r = 0; r < rounds; ++r) {
    const K k = p.plan();
    for (int i = 0; i < p.workers(); ++i) {
      double sum = 0.0;
      for (int s = 0; s < k[i]; ++s) sum += d.draw(i);
      p.report(i, sum / k[i]);
    }
    out.push_back(k);
  }
  return out;
}

// An assign policy after one report of each given step time.
AssignPolicy reported(int k_base, int k_max, const std::vector<double>& c) {
  AssignPolicy p(static_cast<int>(c.size()), k_base, k_max);
  for (std::size_t i = 0; i < c.size(); ++i) p.report(static_cast<int>(i), c[i]);
  return p;
}

// Poll policy, rounds 1..n: everyone starts a round together; a worker steps until ready() says
// yes, then waits; the round ends when all are ready. Events run in time order, ties to the
// lowest rank. Returns K per round; `duration` gets each round's wall time.
std::vector<K> simulate_poll(PollPolicy& p, Devices& d, int rounds, std::vector<double>* duration = nullptr) {
  const int n = p.workers();
  std::vector<K> out;
  double now = 0.0;
  for (int round = 1; round <= rounds; ++round) {
    const double start = now;
    std::vector<double> dur(n), end(n);
    p.start_round(static_cast<std::uint64_t>(round), now);
    for (int i = 0; i < n; ++i) {
      EXPECT_FALSE(p.ready(i, now));  // k_i = 0
      p.step_started(i, now);
      end[i] = now + (dur[i] = d.draw(i));
    }
    for (int events = 0; !p.all_ready() && events < 10000; ++events) {
      const int i = static_cast<int>(std::min_element(end.begin(), end.end()) - end.begin());
      now = end[i];
      p.step_done(i, dur[i], now);
      end[i] = p.ready(i, now) ? std::numeric_limits<double>::infinity() : now + (dur[i] = d.draw(i));
    }
    EXPECT_TRUE(p.all_ready()) << "round " << round << " never ends";
    out.emplace_back();
    for (int i = 0; i < n; ++i) out.back().push_back(p.steps(i));
    if (duration) duration->push_back(now - start);
  }
  return out;
}

// Rounds from `from` on within ±1 of 4:2:1; returns their mean K. Round 0 knows no step times.
// Under jitter, start at round 4: until then the EMAs hold one or two samples, each with a
// single step's full jitter, and the poll rule can stop the fast worker a step early (over 300
// seeds at 10 % jitter, 9 of 8700 rounds gave 2:1:1, all in rounds 1-3 here; none later).
std::string check_within_one(const std::vector<K>& ks, std::size_t from) {
  std::vector<double> mean(kIdeal.size(), 0.0);
  for (std::size_t r = from; r < ks.size(); ++r)
    for (std::size_t i = 0; i < kIdeal.size(); ++i) {
      EXPECT_LE(std::abs(ks[r][i] - kIdeal[i]), 1) << "round " << r << " worker " << i << ": K=" << ks[r][i];
      mean[i] += ks[r][i] / double(ks.size() - from);
    }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f:%.2f:%.2f", mean[0], mean[1], mean[2]);
  return buf;
}

// Three workers whose EMAs are 1, 2 and 4 s after a warm-up round; round 2 begins at t = 10.
PollPolicy warmed(double eps_factor = 0.5, bool start_round_2 = true) {
  PollPolicy p(3, eps_factor);
  p.start_round(1, 0.0);
  p.step_done(0, 1.0, 1.0);
  p.step_done(1, 2.0, 2.0);
  p.step_done(2, 4.0, 4.0);
  if (start_round_2) p.start_round(2, 10.0);
  return p;
}

}  // namespace

// ---------------------------------------------------------------------------------- assign

TEST(AssignPolicy, MissingReportsKeepKBaseAndEmaFolds) {
  AssignPolicy p(3, 2, 16);
  EXPECT_EQ(p.plan(), (K{2, 2, 2}));
  EXPECT_EQ(p.slowest(), -1);
  p.report(1, 0.5);
  EXPECT_EQ(p.plan(), (K{2, 2, 2})) << "the only reporter is also the slowest";
  p.report(2, 1.0);
  EXPECT_EQ(p.plan(), (K{2, 4, 2}));
  EXPECT_FALSE(p.has_step_time(0));
  EXPECT_DOUBLE_EQ(p.step_time(1), 0.5) << "the first report initialises the EMA";
  p.report(1, 1.5);
  EXPECT_DOUBLE_EQ(p.step_time(1), 0.3 * 1.5 + 0.7 * 0.5);
  p.report(1, 1.5);
  EXPECT_DOUBLE_EQ(p.step_time(1), 0.3 * 1.5 + 0.7 * 0.8);
}

TEST(AssignPolicy, Speeds124GiveExactly421AndWithinOneUnderJitter) {
  for (double scale : {1.0, 0.01}) {
    AssignPolicy p(3, 1, 16);
    Devices d{{1 * scale, 2 * scale, 4 * scale}};
    const auto ks = simulate_assign(p, d, 5);
    EXPECT_EQ(ks[0], (K{1, 1, 1})) << "no step time before round 1";
    for (std::size_t r = 1; r < ks.size(); ++r)
      EXPECT_EQ(ks[r], kIdeal) << "scale " << scale << " round " << r;
    EXPECT_EQ(p.slowest(), 2);
    std::printf("[ assign ] 1:2:4 x%g -> K = %d:%d:%d\n", scale, ks.back()[0], ks.back()[1], ks.back()[2]);
  }
  AssignPolicy p(3, 1, 16);
  Devices d{{1.0, 2.0, 4.0}, 0.10};
  const std::string mean = check_within_one(simulate_assign(p, d, 50), 4);
  std::printf("[ assign ] 1:2:4 jitter 10%% -> mean K = %s\n", mean.c_str());
}

// A lost worker is forgotten: the round's length follows the slowest survivor.
TEST(AssignPolicy, ForgottenSlowestNoLongerSetsTheRound) {
  AssignPolicy p(3, 4, 64);
  p.report(0, 1.0);
  p.report(1, 2.0);
  p.report(2, 4.0);
  EXPECT_EQ(p.plan(), (K{16, 8, 4}));
  p.forget(2);
  EXPECT_EQ(p.slowest(), 1);
  EXPECT_EQ(p.plan(), (K{8, 4, 4}));  // rank 2 (gone) keeps K_base, nobody waits for it
  EXPECT_THROW(p.forget(3), ConfigError);
}

TEST(AssignPolicy, SlowdownShiftsKWithinFewRounds) {
  AssignPolicy p(3, 1, 16);
  Devices d{{1.0, 2.0, 4.0}};
  simulate_assign(p, d, 5);
  d.c[0] = 8.0;  // worker 0 becomes the slowest device by far
  const auto ks = simulate_assign(p, d, 10);
  EXPECT_EQ(ks[1][0], 1) << "one report already drops the slowed worker to one step";
  EXPECT_NE(ks[1], (K{1, 4, 2})) << "the EMA smooths: not a jump in one round";
  EXPECT_EQ(p.slowest(), 0);
  const auto settled = std::find(ks.begin(), ks.end(), K{1, 4, 2}) - ks.begin();
  EXPECT_LE(settled, 8) << "K should settle on 1:4:2 within a few rounds";
  EXPECT_EQ(ks.back(), (K{1, 4, 2}));
}

TEST(AssignPolicy, ClampsToKMaxAndOneAndScalesWithKBase) {
  // T / c = 1000; c = 0 is below clock resolution; round(1.11) = 1; the slowest gets K_base.
  EXPECT_EQ(reported(1, 16, {0.001, 0.0, 0.9, 1.0}).plan(), (K{16, 16, 1, 1}));
  EXPECT_EQ(reported(3, 9, {0.0, 0.0}).plan(), (K{3, 3})) << "all equally fast";
  // K_base > 1 scales the whole plan.
  EXPECT_EQ(reported(3, 64, {1.0, 2.0, 4.0}).plan(), (K{12, 6, 3}));
  EXPECT_EQ(reported(2, 8, {1.0, 3.0}).plan(), (K{6, 2}));
  EXPECT_EQ(reported(4, 10, {1.0, 4.0}).plan(), (K{10, 4})) << "16 clamped to K_max";
}

// ------------------------------------------------------------------------------------ poll

TEST(PollPolicy, Speeds124SimulatedRoundsExactAndJitter) {
  for (double scale : {1.0, 0.01}) {
    PollPolicy p(3);
    Devices d{{1 * scale, 2 * scale, 4 * scale}};
    std::vector<double> duration;
    const auto ks = simulate_poll(p, d, 6, &duration);
    EXPECT_EQ(ks[0], (K{1, 1, 1})) << "no step times yet: ready after one step";
    check_within_one(ks, 1);
    for (std::size_t r = 1; r < ks.size(); ++r) {
      EXPECT_GT(ks[r][0], ks[r][1]);
      EXPECT_EQ(ks[r][2], 1) << "the slowest takes one step";
      EXPECT_NEAR(duration[r], 4 * scale, 1e-9 * scale) << "nobody makes the slowest wait";
    }
    std::printf("[ poll   ] 1:2:4 x%g -> K = %d:%d:%d\n", scale, ks.back()[0], ks.back()[1], ks.back()[2]);
  }
  PollPolicy p(3);
  Devices d{{1.0, 2.0, 4.0}, 0.10};
  const std::string mean = check_within_one(simulate_poll(p, d, 40), 4);
  std::printf("[ poll   ] 1:2:4 jitter 10%% eps 0.5 -> mean K = %s\n", mean.c_str());
}

TEST(PollPolicy, ZeroEpsilonGivesExactly421) {
  PollPolicy p(3, 0.0);
  Devices d{{1.0, 2.0, 4.0}};  // binary-exact times: the boundary cases compare exactly
  const auto ks = simulate_poll(p, d, 5);
  for (std::size_t r = 1; r < ks.size(); ++r) EXPECT_EQ(ks[r], kIdeal);
  std::printf("[ poll   ] 1:2:4 eps 0 -> K = %d:%d:%d\n", ks.back()[0], ks.back()[1], ks.back()[2]);
}

TEST(PollPolicy, NotReadyBeforeAnyStep) {  // branch (1): k_i = 0
  auto p = warmed();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(p.ready(i, 10.0 + 100.0 * i));
}

TEST(PollPolicy, NotReadyUntilSlowestStartedRound) {  // branch (2)
  auto p = warmed(0.5, false);
  p.join_round(0, 2, 10.0);
  p.step_done(0, 1.0, 11.0);
  // Worker 2's stale step start (t = 4) would give remaining = 4 − 7 < 0, i.e. "ready".
  EXPECT_FALSE(p.ready(0, 11.0));
  p.join_round(2, 2, 11.0);
  EXPECT_FALSE(p.ready(0, 11.0)) << "remaining 4 s: take another step";
  EXPECT_TRUE(p.ready(0, 14.5)) << "remaining 0.5 s";
}

TEST(PollPolicy, SlowestIsReadyAfterOneStep) {  // branch (3)
  auto p = warmed();
  p.step_done(2, 4.0, 14.0);
  EXPECT_EQ(p.slowest(), 2);
  EXPECT_TRUE(p.ready(2, 14.0));
  EXPECT_EQ(p.steps(2), 1);
}

TEST(PollPolicy, ReadyOnceSlowestIsReady) {  // branch (4)
  auto p = warmed();
  p.step_done(0, 1.0, 14.0);
  p.step_done(2, 4.0, 14.0);  // s's next step would start now: remaining 4 s
  EXPECT_FALSE(p.ready(0, 14.0)) << "s has not said it is ready yet";
  ASSERT_TRUE(p.ready(2, 14.0));
  EXPECT_TRUE(p.ready(0, 14.0)) << "s takes no more steps";
}

TEST(PollPolicy, ReadyWhenNextStepWouldNotEndBeforeSlowest) {  // branch (5)
  auto p = warmed();
  p.step_done(1, 2.0, 12.0);
  EXPECT_TRUE(p.ready(1, 12.0)) << "2 + 1 > remaining 2";
  p.step_done(0, 1.0, 11.0);
  p.step_done(0, 1.0, 12.0);
  p.step_done(0, 1.0, 13.0);
  EXPECT_TRUE(p.ready(0, 13.0)) << "1 + 0.5 > remaining 1";
  EXPECT_FALSE(p.all_ready());
}

TEST(PollPolicy, NotReadyWhileTimeRemains) {  // branch (6), and ε's effect
  auto p = warmed();
  p.step_done(0, 1.0, 11.0);
  EXPECT_FALSE(p.ready(0, 11.0)) << "1 + 0.5 <= remaining 3";
  EXPECT_FALSE(p.ready(0, 12.5)) << "1 + 0.5 <= remaining 1.5";
  EXPECT_FALSE(p.is_ready(0)) << "a no is not remembered";
  auto wide = warmed(2.5);
  wide.step_done(0, 1.0, 11.0);
  EXPECT_TRUE(wide.ready(0, 11.0)) << "1 + 2.5 > remaining 3";
}

TEST(PollPolicy, NoStepTimesReadyAfterFirstStep) {
  PollPolicy p(3);
  p.start_round(1, 0.0);
  EXPECT_EQ(p.slowest(), -1);
  EXPECT_FALSE(p.ready(0, 0.0));
  p.step_done(0, 0.5, 0.5);
  EXPECT_TRUE(p.ready(0, 0.5));
  p.step_done(2, 3.0, 3.0);
  EXPECT_TRUE(p.ready(2, 3.0));
  EXPECT_EQ(p.slowest(), 2);
}

TEST(PollPolicy, NewRoundResetsStepsButKeepsEma) {
  auto p = warmed();  // round 2 reset the warm-up steps
  for (int i = 0; i < 3; ++i) EXPECT_EQ(p.steps(i), 0);
  p.step_done(2, 6.0, 16.0);
  ASSERT_TRUE(p.ready(2, 16.0));
  EXPECT_DOUBLE_EQ(p.step_time(2), 0.3 * 6.0 + 0.7 * 4.0);
  p.join_round(1, 3, 20.0);  // the first worker into round 3 resets everyone
  EXPECT_EQ(p.round(), 3u);
  EXPECT_EQ(p.steps(2), 0);
  EXPECT_FALSE(p.is_ready(2));
  EXPECT_TRUE(p.has_step_time(2));
  EXPECT_NO_THROW(p.join_round(2, 3, 20.5));
  EXPECT_THROW(p.join_round(0, 2, 21.0), ConfigError);
}

TEST(Assignment, InvalidInputsThrowConfigError) {
  EXPECT_THROW(AssignPolicy(0, 1, 4), ConfigError);
  EXPECT_THROW(AssignPolicy(2, 0, 4), ConfigError);
  EXPECT_THROW(AssignPolicy(2, 4, 3), ConfigError);
  EXPECT_THROW(AssignPolicy(2, 1, 4, 0.0), ConfigError);
  EXPECT_THROW(AssignPolicy(2, 1, 4, std::nan("")), ConfigError);
  AssignPolicy p(2, 1, 4);
  EXPECT_THROW(p.report(-1, 1.0), ConfigError);
  EXPECT_THROW(p.report(2, 1.0), ConfigError);
  EXPECT_THROW(p.report(0, -0.1), ConfigError);
  EXPECT_THROW(p.report(0, std::numeric_limits<double>::infinity()), ConfigError);
  EXPECT_THROW(p.step_time(5), ConfigError);
  EXPECT_THROW(PollPolicy(0), ConfigError);
  EXPECT_THROW(PollPolicy(2, -0.1), ConfigError);
  EXPECT_THROW(PollPolicy(2, std::nan("")), ConfigError);
  EXPECT_THROW(PollPolicy(2, 0.5, 1.5), ConfigError);
  PollPolicy q(2);
  EXPECT_THROW(q.step_done(0, 1.0, 1.0), ConfigError) << "before joining a round";
  EXPECT_THROW(q.step_started(0, 1.0), ConfigError);
  q.start_round(1, 0.0);
  EXPECT_THROW(q.start_round(1, -1.0), ConfigError);
  EXPECT_THROW(q.ready(2, 1.0), ConfigError);
  EXPECT_THROW(q.ready(-1, 1.0), ConfigError);
  EXPECT_THROW(q.step_done(0, -1.0, 1.0), ConfigError);
  EXPECT_THROW(q.step_done(0, 1.0, -1.0), ConfigError);
  EXPECT_THROW(q.steps(7), ConfigError);
}

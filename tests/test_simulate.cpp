// The performance model: exact cases (no variance, no communication), seed 003's runtime
// theory (sync round = max of M exponential steps = H_M·mean; async update = mean/M) and the
// cost formulas. Calibration and validation against committed runs: test_calibrate.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "esync/error.hpp"
#include "esync/simulate.hpp"
#include "sim_test_util.hpp"

namespace {

using esync::sim::Calibration;
using esync::sim::SimConfig;
using esync::sim::StepDist;
using sim_test::config;
using sim_test::ideal;

TEST(Simulate, SsgdWithoutVarianceIsBatchOverSlowest) {
  for (int m : {3, 6, 7}) {
    const auto r = esync::sim::simulate(ideal({0.001, 0.002, 0.004}), config("ssgd", m));
    EXPECT_NEAR(r.samples_per_s, m * 64 / 0.004, 1e-9 * r.samples_per_s) << "M=" << m;
    EXPECT_NEAR(r.round_s, 0.004, 1e-12);
    EXPECT_NEAR(r.compute_frac + r.comm_frac + r.wait_frac + r.overhead_frac, 1.0, 1e-9);
  }
}

TEST(Simulate, EsyncApproachesTheSumOfDeviceRates) {
  Calibration cal = ideal({0.01}, 0.0);
  for (bool ema : {true, false}) {
    SimConfig s = config("esync", 3, 1000);
    s.speed_mix = {1, 2, 4}, s.ema_assign = ema;
    const auto r = esync::sim::simulate(cal, s);
    const double ideal_rate = 64 * (1 / 0.01 + 1 / 0.02 + 1 / 0.04);
    EXPECT_NEAR(r.samples_per_s / ideal_rate, 1.0, 0.02) << "ema " << ema;
    ASSERT_EQ(r.classes.size(), 3u);
    EXPECT_NEAR(r.classes[0].k_mean, 16, 0.1);  // K ≈ 4 : 2 : 1 with K_base 4
    EXPECT_NEAR(r.classes[1].k_mean, 8, 0.1);
    EXPECT_NEAR(r.classes[2].k_mean, 4, 1e-9);
  }
  // Per-class CVs from the calibration follow their factor; a small CV costs a little.
  cal.classes = {{"a", 1, 0.01, 0.05}, {"b", 2, 0.02, 0.05}, {"c", 4, 0.04, 0.05}};
  SimConfig s = config("esync", 3, 1000);
  s.speed_mix = {1, 2, 4};
  const double rate = esync::sim::simulate(cal, s).samples_per_s;
  EXPECT_LT(rate, 64 * 175.0);
  EXPECT_GT(rate, 0.9 * 64 * 175.0);
}

// The deadline policy runs through the state server's own planner and rule: without variance the
// pacer (the slowest) does K_base and every other worker as many steps as fit in T, which is
// assign's plan; a policy the model does not have is refused.
TEST(Simulate, DeadlinePolicyPlansLikeAssignWithoutVariance) {
  SimConfig a = config("esync", 3, 200);
  a.speed_mix = {1, 2, 4};
  SimConfig d = a;
  d.policy = "deadline";
  const auto ra = esync::sim::simulate(ideal({0.01}), a), rd = esync::sim::simulate(ideal({0.01}), d);
  ASSERT_EQ(rd.classes.size(), 3u);
  for (std::size_t c = 0; c < 3; ++c)
    EXPECT_NEAR(rd.classes[c].k_mean, ra.classes[c].k_mean, 1e-9) << "class " << c;
  EXPECT_NEAR(rd.classes[0].k_mean, 16, 0.1);
  EXPECT_NEAR(rd.samples_per_s, ra.samples_per_s, 1e-9 * ra.samples_per_s);
  d.policy = "poll";
  EXPECT_THROW(esync::sim::simulate(ideal({0.01}), d), esync::ConfigError);
}

TEST(Simulate, SyncRoundOfExponentialStepsIsHarmonicNumberTimesMean) {
  // Seed 003: E[max of M exponentials of mean μ] = H_M·μ.
  for (int m : {1, 2, 4, 8, 16}) {
    SimConfig s = config("ssgd", m, 20000);
    s.dist = StepDist::kExponential, s.seed = 7 + m;
    const auto r = esync::sim::simulate(ideal({0.5}), s);
    double h = 0;
    for (int k = 1; k <= m; ++k) h += 1.0 / k;
    EXPECT_NEAR(r.round_s / (0.5 * h), 1.0, 0.05) << "M=" << m;
  }
}

TEST(Simulate, AsyncTimePerUpdateIsMeanOverM) {
  for (int m : {1, 4, 16}) {
    for (auto dist : {StepDist::kLognormal, StepDist::kExponential}) {
      SimConfig s = config("asgd", m, 5000);
      s.dist = dist;
      const auto r = esync::sim::simulate(ideal({0.2}, 0.5), s);
      EXPECT_NEAR(r.update_s / (0.2 / m), 1.0, 0.02) << "M=" << m;
      EXPECT_NEAR(r.samples_per_s, 64 * m / 0.2, 0.02 * 64 * m / 0.2);
      EXPECT_NEAR(r.mean_staleness, m - 1, 0.05 * m);  // every other worker pushes once per cycle
    }
  }
}

TEST(Simulate, CommunicationCostFormulas) {
  Calibration c = ideal({0.004, 0.004});
  c.model_bytes = 1e6, c.bandwidth_Bps = 1e9, c.latency_s = 1e-4;
  EXPECT_DOUBLE_EQ(esync::sim::allreduce_s(c, 1), 0.0);
  EXPECT_NEAR(esync::sim::allreduce_s(c, 4), 2 * 3.0 / 4 * 1e-3 + 6 * 1e-4, 1e-15);
  EXPECT_NEAR(esync::sim::ps_transfer_s(c, 4), 2e-3 / 4 + 2e-4, 1e-15);
  // ssgd without variance: round = slowest step + the allreduce after the last arrival.
  const auto r = esync::sim::simulate(c, config("ssgd", 4));
  EXPECT_NEAR(r.sync_s, esync::sim::allreduce_s(c, 4), 1e-12);
  EXPECT_NEAR(r.round_s, 0.004 + esync::sim::allreduce_s(c, 4), 1e-12);
  EXPECT_NEAR(r.comm_frac, esync::sim::allreduce_s(c, 4) / r.round_s, 1e-9);
}

TEST(Simulate, ParameterServerQueueBoundsAsyncUpdates) {
  // Near-instant steps: the FIFO shard is the bottleneck, one push per service time, and
  // shards divide that time; DC-ASGD's heavier update costs its factor.
  Calibration c = ideal({1e-7});
  c.server_service_s = 1e-3;
  for (int shards : {1, 4}) {
    SimConfig s = config("asgd", 8, 500);
    s.shards = shards;
    EXPECT_NEAR(esync::sim::simulate(c, s).update_s, 1e-3 / shards, 0.01e-3 / shards);
    s.mode = "dcasgd";
    EXPECT_NEAR(esync::sim::simulate(c, s).update_s, s.dc_service_factor * 1e-3 / shards, 0.01e-3 / shards);
  }
}

TEST(Simulate, ParameterServerLinksAreSharedByAllWorkers) {
  // S/B = 1 ms through each shard's one link. Async, near-instant steps: the link carries one
  // push per S/shards/B. Sync (ssgd over the PS), 4 workers, steps of 10 ms, L = S/shards/B:
  // in the first round they arrive together, 4 pushes go in one after another (4L), the round
  // closes, 4 replies go out one after another (4L). Each worker starts its next step when its
  // own reply is back, L apart, so from then on the pushes arrive L apart and do not queue: the
  // last is in 10 ms + 4L + L after the round closed. Rounds of 10 ms + 8L, then 10 ms + 5L.
  Calibration c = ideal({1e-7});
  c.model_bytes = 1e6, c.bandwidth_Bps = 1e9;
  for (int shards : {1, 4}) {
    SimConfig s = config("asgd", 8, 500);
    s.shards = shards;
    EXPECT_NEAR(esync::sim::simulate(c, s).update_s, 1e-3 / shards, 0.01e-3 / shards);
  }
  c.classes[0].step_s = 0.010;
  for (int shards : {1, 2}) {
    SimConfig s = config("ssgd", 4, 10);
    s.shards = shards;
    const double L = 1e-3 / shards;
    EXPECT_NEAR(esync::sim::simulate(c, s).round_s, (0.010 + 8 * L + 9 * (0.010 + 5 * L)) / 10, 1e-12);
  }
}

TEST(Simulate, LocalSgdUsesFixedKAndRejectsBadConfigs) {
  SimConfig s = config("local-sgd", 3);
  s.k_fixed = 8, s.speed_mix = {1, 2, 4};
  const auto r = esync::sim::simulate(ideal({0.01}), s);
  EXPECT_NEAR(r.round_s, 8 * 0.04, 1e-12);
  EXPECT_NEAR(r.samples_per_s, 24 * 64 / (8 * 0.04), 1e-6);
  EXPECT_THROW(esync::sim::simulate(ideal({0.01}), config("sgd", 3)), esync::ConfigError);
  EXPECT_THROW(esync::sim::simulate(ideal({0.01}), config("ssgd", 0)), esync::ConfigError);
  s.mode = "esync", s.k_max = 2;
  EXPECT_THROW(esync::sim::simulate(ideal({0.01}), s), esync::ConfigError);
  EXPECT_THROW(esync::sim::simulate(ideal({}), config("ssgd", 2)), esync::ConfigError);
}

TEST(Simulate, OverlapHidesTheSyncDelayBehindTheNextRoundsSteps) {
  // 3 equal workers, K = 4 steps of 10 ms (40 ms of steps a round), a free allreduce, and a
  // sync delay D. Synchronous: a round is 40 ms + D. Overlapped: round r's reduction (D) runs
  // behind round r+1's steps, so a round is max(40 ms, D), and the last reduction is settled.
  for (const double delay : {0.02, 0.1}) {
    Calibration cal = ideal({0.01, 0.01, 0.01});
    cal.sync_delay = "constant:" + std::to_string(int(delay * 1000)) + "ms";
    SimConfig s = config("local-sgd", 3, 50);
    const auto sync = esync::sim::simulate(cal, s);
    EXPECT_NEAR(sync.round_s, 0.04 + delay, 1e-12);
    s.overlap = true;
    const auto ov = esync::sim::simulate(cal, s);
    EXPECT_EQ(ov.mode, "local-sgd+overlap");
    // The first round's steps, 49 rounds of max(steps, D), the last reduction settled.
    EXPECT_NEAR(ov.wall_s, 0.04 + 49 * std::max(0.04, delay) + delay, 1e-9) << "D=" << delay;
    EXPECT_NEAR(ov.samples_per_s, 3 * 4 * 64 * 50 / ov.wall_s, 1e-6);
    EXPECT_EQ(ov.comm_frac, 0.0);  // as in an overlapped run's logs: held-up time is wait
    // Held up only when the reduction outlasts a round's steps (and at the final settle).
    const double held = 49 * std::max(0.0, delay - 0.04) + delay;
    EXPECT_NEAR(ov.wait_frac, held / ov.wall_s, 1e-9) << "D=" << delay;
    EXPECT_NEAR(ov.compute_frac + ov.wait_frac, 1.0, 1e-9);
    // By simulated time instead of rounds: whole rounds until the last launch passes 1 s, then
    // the settle. Round r's launch is at 0.04 + r·max(0.04, D).
    s.sim_seconds = 1.0;
    const auto timed = esync::sim::simulate(cal, s);
    const double step = std::max(0.04, delay);
    const auto rounds = static_cast<std::int64_t>(std::ceil((1.0 - 0.04) / step - 1e-9)) + 1;
    EXPECT_EQ(timed.rounds, rounds) << "D=" << delay;
    EXPECT_NEAR(timed.wall_s, 0.04 + (rounds - 1) * step + delay, 1e-9) << "D=" << delay;
  }
  // Over the parameter server, too: the round is the steps when the push and pull are shorter.
  Calibration cal = ideal({0.01, 0.01, 0.01});
  cal.model_bytes = 4e5, cal.bandwidth_Bps = 1e9, cal.latency_s = 1e-4, cal.sync_delay = "constant:30ms";
  SimConfig s = config("esync", 3, 100);
  s.shards = 2, s.overlap = true;
  const auto ps = esync::sim::simulate(cal, s);
  EXPECT_NEAR(ps.round_s, 0.04, 0.001);
  EXPECT_NEAR(ps.compute_frac + ps.comm_frac + ps.wait_frac + ps.overhead_frac, 1.0, 1e-9);
  s.overlap = false;
  EXPECT_GT(esync::sim::simulate(cal, s).round_s, 0.04 + 0.03);
  s.mode = "ssgd", s.overlap = true;  // a gradient mode cannot run a step behind its reduction
  EXPECT_THROW(esync::sim::simulate(cal, s), esync::ConfigError);
  cal.sync_delay = "sometimes:3ms";
  EXPECT_THROW(esync::sim::simulate(cal, config("esync", 3)), esync::ConfigError);
  esync::sim::set_mode(s, "local-sgd+overlap");
  EXPECT_EQ(s.mode, "local-sgd");
  EXPECT_TRUE(s.overlap);
  EXPECT_EQ(esync::sim::mode_name(s), "local-sgd+overlap");
  EXPECT_THROW(esync::sim::set_mode(s, "esync+fast"), esync::ConfigError);
}

TEST(Simulate, RandomSyncDelayIsDrawnPerWorkerAndTheBarrierPaysTheLargest) {
  // Exponential delays of mean 10 ms on 3 equal workers: a synchronous round waits for the
  // largest of three, H_3 · 10 ms = 18.3 ms (seed 003's max of exponentials), not the mean.
  Calibration cal = ideal({0.01, 0.01, 0.01});
  cal.sync_delay = "exponential:10ms";
  SimConfig s = config("local-sgd", 3, 20000);
  const auto r = esync::sim::simulate(cal, s);
  EXPECT_NEAR(r.round_s / (0.04 + 0.01 * (1 + 1.0 / 2 + 1.0 / 3)), 1.0, 0.02);
  EXPECT_NEAR(r.compute_frac + r.comm_frac + r.wait_frac + r.overhead_frac, 1.0, 1e-9);
  // Async: each push pays its own delay; comm holds it, so per update comm ≈ 10 ms.
  const auto a = esync::sim::simulate(cal, config("asgd", 1, 20000));
  EXPECT_NEAR(a.comm_frac * a.wall_s / 20000, 0.010, 0.0005);
}

}  // namespace

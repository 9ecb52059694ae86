// Calibration of the performance model from committed summaries (the demo's, a parameter-server
// run with known numbers, a delayed run) and its validation: predictions of committed runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "esync/error.hpp"
#include "esync/simulate.hpp"
#include "sim_test_util.hpp"

namespace {

using esync::sim::Calibration;
using esync::sim::SimConfig;
using sim_test::config;
using sim_test::demo;

TEST(Calibrate, DemoSummaryGivesSlowdownRatiosAndTheNetwork) {
  const auto doc = demo();
  const Calibration c = esync::sim::calibrate(doc);  // the first run: esync, slowdown 1,2,4
  ASSERT_EQ(c.classes.size(), 3u);
  EXPECT_EQ(c.source.mode, "esync");
  EXPECT_EQ(c.source.k_base, 4);
  // Each class's step time is its worker's device time per step, read from the summary. The
  // slowed devices are slower; how much depends on the day's contention on the host (the fast
  // worker's own steps are not emulated), so the test does not pin 1 : 2 : 4.
  const auto& workers = doc["runs"][0]["workers"];
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& ts = workers[i]["time_split"];
    EXPECT_DOUBLE_EQ(c.classes[i].step_s, (ts["compute_s"].get<double>() + ts["injected_s"].get<double>()) /
                                              workers[i]["steps"].get<double>());
  }
  EXPECT_LT(c.classes[0].step_s, c.classes[1].step_s);
  EXPECT_LT(c.classes[1].step_s, c.classes[2].step_s);
  for (const auto& d : c.classes) EXPECT_GT(d.cv, 0.0) << d.name;
  EXPECT_NEAR(c.model_bytes, (61706 + 5) * 4.0, 0.01 * 61706 * 4);  // LeNet-5 + 5 control slots
  EXPECT_GT(c.bandwidth_Bps, 0.0);
  EXPECT_EQ(c.round_overhead_s, 0.0);  // an esync run: its overhead is the state server trip
  EXPECT_GT(c.coord_overhead_s, 0.0);
  EXPECT_FALSE(c.notes.empty());
  const Calibration back = nlohmann::json(c).get<Calibration>();  // saved and loaded as JSON
  EXPECT_EQ(nlohmann::json(back), nlohmann::json(c));
  EXPECT_EQ(back.classes[2].step_s, c.classes[2].step_s);
  EXPECT_EQ(esync::sim::calibrate(doc, {.run = "ssgd"}).source.mode, "ssgd");
  EXPECT_THROW(esync::sim::calibrate(doc, {.run = "nope"}), esync::ConfigError);
  EXPECT_THROW(esync::sim::calibrate(nlohmann::json::object()), esync::ConfigError);
}

TEST(Calibrate, ParameterServerRunWithKnownNumbers) {
  // asgd over 2 shards, S = 4e5 B, B = 1e8 B/s: comm per sync = 2 latencies + service/shards +
  // 2·S/shards/B; no per-round data, so the default CV.
  const double S = 4e5, service = 3 * S / 5e9, per_sync = 2e-4 + service / 2 + 2 * S / 2 / 1e8;
  nlohmann::json run = {{"label", "ps"},
                        {"mode", "asgd"},
                        {"config", {{"batch", 32}, {"servers", 2}, {"slowdown", {1, 3}}}},
                        {"job", {{"samples_per_s", 1000.0}, {"train_wall_s", 10.0}}},
                        {"workers", nlohmann::json::array()}};
  for (int r = 0; r < 2; ++r)
    run["workers"].push_back({{"rank", r},
                              {"device", "cpu"},
                              {"steps", 100},
                              {"rounds", 100},
                              {"bytes_sent", 100 * S},
                              {"bytes_recv", 100 * S},
                              {"train_wall_s", 10.0},
                              {"time_split",
                               {{"compute_s", 1.0},
                                {"injected_s", 2.0 * r},
                                {"comm_s", 100 * per_sync},
                                {"wait_s", 0.0},
                                {"total_s", 9.0}}}});
  const Calibration c = esync::sim::calibrate({{"schema", "esync.summary/1"}, {"runs", {run}}});
  ASSERT_EQ(c.classes.size(), 2u);
  EXPECT_NEAR(c.classes[0].step_s, 0.01, 1e-12);
  EXPECT_NEAR(c.classes[1].step_s, 0.03, 1e-12);
  EXPECT_NEAR(c.base_step_s, 0.01, 1e-12);  // 0.01 / 1 and 0.03 / 3
  EXPECT_DOUBLE_EQ(c.classes[1].cv, 0.1);
  EXPECT_EQ(c.batch, 32);
  EXPECT_EQ(c.source.shards, 2);
  EXPECT_DOUBLE_EQ(c.model_bytes, S);
  EXPECT_NEAR(c.bandwidth_Bps / 1e8, 1.0, 1e-9);
  EXPECT_DOUBLE_EQ(c.latency_s, 1e-4);
  EXPECT_NEAR(c.round_overhead_s, 0.01, 1e-12);  // (10 − 9) s over 100 rounds
  EXPECT_NEAR(esync::sim::ps_transfer_s(c, 2) + c.server_service_s / 2, per_sync, 1e-12);
}

TEST(Calibrate, InjectedDelayIsASyncCostAndOverlappedRunsAreRefused) {
  // esync, 2 workers, 100 rounds of 10 steps, --delay constant:20ms: 2 s of each worker's
  // injected time is the delay (time_split.delay_s), the rest its slowdown.
  nlohmann::json run = {{"label", "delayed"},
                        {"mode", "esync"},
                        {"config", {{"batch", 64}, {"slowdown", {1, 2}}, {"delay", "constant:20ms"}}},
                        {"job", {{"samples_per_s", 1000.0}, {"train_wall_s", 10.0}}},
                        {"workers", nlohmann::json::array()}};
  for (int r = 0; r < 2; ++r)
    run["workers"].push_back({{"rank", r},
                              {"steps", 1000},
                              {"rounds", 100},
                              {"bytes_sent", 1e7},
                              {"train_wall_s", 10.0},
                              {"time_split",
                               {{"compute_s", 5.0},
                                {"injected_s", 5.0 * r + 2.0},
                                {"delay_s", 2.0},
                                {"comm_s", 0.1},
                                {"wait_s", 0.0}}}});
  nlohmann::json doc = {{"schema", "esync.summary/1"}, {"runs", {run}}};
  Calibration c = esync::sim::calibrate(doc);
  EXPECT_NEAR(c.classes[0].step_s, 0.005, 1e-12);  // (5 + 2 − 2) s / 1000 steps
  EXPECT_NEAR(c.classes[1].step_s, 0.010, 1e-12);
  EXPECT_EQ(c.sync_delay, "constant:20ms");
  doc["runs"][0]["config"]["overlap"] = true;
  EXPECT_THROW(esync::sim::calibrate(doc), esync::ConfigError);
  // A summary that cannot tell the delay from the steps (made before delay_s was logged).
  doc["runs"][0]["config"].erase("overlap");
  for (auto& w : doc["runs"][0]["workers"]) w["time_split"].erase("delay_s");
  EXPECT_THROW(esync::sim::calibrate(doc), esync::ConfigError);
}

TEST(Validate, DemoThroughputPredictedFromCalibration) {
  // Replays the demo's set-up (3 workers, the calibrated classes, its rounds and K_base) and
  // compares with the throughput it measured; calibrated on each run, predicting each.
  const auto doc = demo();
  for (const std::string from : {"esync", "ssgd"}) {
    const Calibration cal = esync::sim::calibrate(doc, {.run = from});
    for (const std::string mode : {"esync", "ssgd"}) {
      const Calibration target = esync::sim::calibrate(doc, {.run = mode});
      SimConfig s = config(mode, target.source.workers, target.source.rounds);
      s.k_base = target.source.k_base;
      for (bool ema : {true, false}) {
        s.ema_assign = ema;
        if (!ema && mode != "esync") continue;
        double pred = 0;
        for (std::uint64_t seed = 1; seed <= 20; ++seed) {
          s.seed = seed;
          pred += esync::sim::simulate(cal, s).samples_per_s / 20;
        }
        const double meas = target.source.samples_per_s, err = pred / meas - 1;
        std::printf(
            "[validate] calibrated on %-5s predict %-5s%s: %.0f samples/s, measured %.0f, error %+.1f%%\n",
            from.c_str(), mode.c_str(), ema ? "" : " (converged K)", pred, meas, 100 * err);
        EXPECT_NEAR(err, 0.0, 0.25) << "calibrated on " << from << ", predicting " << mode;
      }
    }
  }
}

TEST(Validate, OverlapBehindASlowNetworkPredictedFromASynchronousRun) {
  // results/distributed/overlap/delay-50ms: the same ESync job (Fashion-MNIST, slowdowns 1,2,4,
  // --delay constant:50ms) without and with --overlap. Calibrated on the synchronous run only,
  // the model must predict what the overlapped run measured (the delay hidden behind the
  // steps). On loopback the same prediction overshoots (contention for the 2 cores, which the
  // model leaves out; results/experiments/simulate/README.md), so that set is not asserted.
  std::ifstream f(std::string(ESYNC_SOURCE_DIR) +
                  "/results/distributed/overlap/delay-50ms/logs.summary.json");
  ASSERT_TRUE(f.good());
  const auto doc = nlohmann::json::parse(f);
  const Calibration cal = esync::sim::calibrate(doc, {.run = "esync"});
  EXPECT_EQ(cal.sync_delay, "constant:50ms");
  double measured = 0;
  for (const auto& r : doc["runs"])
    if (r["label"] == "esync_overlap") measured = r["job"]["samples_per_s"].get<double>();
  ASSERT_GT(measured, 0);
  SimConfig s = config("esync", 3, cal.source.rounds);
  s.overlap = true;
  double pred = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    s.seed = seed;
    pred += esync::sim::simulate(cal, s).samples_per_s / 20;
  }
  std::printf(
      "[validate] calibrated on esync (50 ms delay) predict esync+overlap: %.0f samples/s, measured %.0f, "
      "error %+.1f%%\n",
      pred, measured, 100 * (pred / measured - 1));
  EXPECT_NEAR(pred / measured - 1, 0.0, 0.15);
  EXPECT_THROW(esync::sim::calibrate(doc, {.run = "esync_overlap"}), esync::ConfigError);
}

}  // namespace

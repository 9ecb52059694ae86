// Core: checkpoints (round trip, atomicity, corruption), JSONL log, schedules, flat optimiser.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "esync/checkpoint.hpp"
#include "esync/error.hpp"
#include "esync/heterogeneity.hpp"
#include "esync/jsonl_log.hpp"
#include "esync/optimizer.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;

namespace {

using esync::test::temp_dir;

TEST(Checkpoint, RoundTripAndOverwrite) {
  const auto dir = temp_dir("ck");
  esync::Checkpoint ck;
  ck.meta = {{"step", 7}, {"config", {{"model", "lenet5"}}}};
  ck.tensors.emplace_back("flat", std::vector<float>{1, 2, 3});
  ck.tensors.emplace_back("empty", std::vector<float>{});
  const auto path = (dir / "a.ck").string();
  ck.save(path);
  ck.tensors[0].second = {4, 5, 6};
  ck.save(path);  // overwrite through temp + rename
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const auto back = esync::Checkpoint::load(path);
  EXPECT_EQ(back.meta["step"], 7);
  EXPECT_EQ(back.tensor("flat"), (std::vector<float>{4, 5, 6}));
  EXPECT_TRUE(back.tensor("empty").empty());
  EXPECT_THROW(back.tensor("nope"), esync::IoError);
}

TEST(Checkpoint, CorruptOrTruncatedIsIoError) {
  const auto dir = temp_dir("ckbad");
  esync::Checkpoint ck;
  ck.tensors.emplace_back("flat", std::vector<float>(100, 1.5f));
  const auto path = (dir / "b.ck").string();
  ck.save(path);
  {  // flip one byte in the tensor data
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-20, std::ios::end);
    f.put('\x7f');
  }
  try {
    esync::Checkpoint::load(path);
    FAIL() << "corrupt checkpoint loaded";
  } catch (const esync::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
    EXPECT_EQ(e.exit_code(), 2);
  }
  fs::resize_file(path, 10);
  EXPECT_THROW(esync::Checkpoint::load(path), esync::IoError);
  EXPECT_THROW(esync::Checkpoint::load((dir / "missing.ck").string()), esync::IoError);
}

TEST(JsonlLog, OneObjectPerLineWithEvAndTime) {
  const auto dir = temp_dir("log");
  {
    esync::JsonlLog log(dir.string(), "worker", 3);
    log.write_line("start", {{"rank", 3}});
    log.write_line("eval", {{"acc", 0.5}});
  }
  std::ifstream in(dir / "worker-3.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.contains("ev") && j.contains("t"));
    ++n;
  }
  EXPECT_EQ(n, 2);
  esync::JsonlLog off;  // disabled log ignores writes
  EXPECT_FALSE(off.enabled());
  off.write_line("x", {});
}

TEST(LrSchedule, CosineExponentialNone) {
  esync::LrSchedule s{"cosine", 1.0f, 100, 10, 0.5f};
  EXPECT_FLOAT_EQ(s.at(0), 1.0f);
  EXPECT_NEAR(s.at(50), 0.5f, 1e-6);
  EXPECT_NEAR(s.at(100), 0.0f, 1e-6);
  s.kind = "exponential";
  EXPECT_FLOAT_EQ(s.at(9), 1.0f);
  EXPECT_FLOAT_EQ(s.at(25), 0.25f);
  s.kind = "none";
  EXPECT_FLOAT_EQ(s.at(77), 1.0f);
  s.kind = "bogus";
  EXPECT_THROW(s.at(0), esync::ConfigError);
}

TEST(FlatOptimizer, MomentumMatchesHandComputation) {
  esync::OptimizerConfig c;
  c.kind = "momentum";
  c.momentum = 0.5f;
  esync::FlatOptimizer opt(c, 2);
  std::vector<float> w = {1, 2}, g = {1, -1};
  opt.step(w.data(), g.data(), 0.1f);  // buf = g; w -= 0.1 g
  opt.step(w.data(), g.data(), 0.1f);  // buf = 0.5 g + g = 1.5 g
  EXPECT_NEAR(w[0], 1 - 0.1 - 0.15, 1e-6);
  EXPECT_NEAR(w[1], 2 + 0.1 + 0.15, 1e-6);
  EXPECT_EQ(opt.steps(), 2);
  EXPECT_EQ(opt.state().size(), 1u);
  c.kind = "rmsprop";
  EXPECT_THROW(esync::FlatOptimizer(c, 2), esync::ConfigError);
}

TEST(Error, CarriesWhereAndExitCode) {
  try {
    ESYNC_CHECK_T(esync::ConfigError, 1 + 1 == 3, "bad flag ", 42);
    FAIL();
  } catch (const esync::Error& e) {
    EXPECT_EQ(std::string(e.what()), "bad flag 42");
    EXPECT_NE(e.where().find("test_core.cpp:"), std::string::npos);
    EXPECT_EQ(e.exit_code(), 2);
  }
}

}  // namespace

TEST(SlowdownModel, StepLastsFactorTimesTheNominalStep) {
  esync::SlowdownModel none(1.0);
  EXPECT_EQ(none.sleep_for(0.01), 0.0);
  esync::SlowdownModel four(4.0);
  EXPECT_DOUBLE_EQ(four.sleep_for(0.010), 0.030);  // 4 x 10 ms
  EXPECT_DOUBLE_EQ(four.sleep_for(0.010), 0.030);
  // A step inflated by contention does not make the device slower: it eats into the sleep.
  EXPECT_DOUBLE_EQ(four.sleep_for(0.025), 0.015);
  EXPECT_DOUBLE_EQ(four.sleep_for(0.050), 0.0);  // slower than 4x on its own: no sleep, 10 ms owed
  // The nominal time follows a device that got faster (4 x 5 ms), and the overrun is paid back.
  EXPECT_NEAR(four.sleep_for(0.005), 0.020 - 0.005 - 0.010, 1e-12);
  EXPECT_NEAR(four.sleep_for(0.005), 0.015, 1e-12);
  // A stall owes at most one step: the device's time is not rewritten far into the future.
  EXPECT_DOUBLE_EQ(four.sleep_for(1.0), 0.0);
  EXPECT_NEAR(four.sleep_for(0.005), 0.0, 1e-12);  // owes 20 ms, pays 15
  EXPECT_NEAR(four.sleep_for(0.005), 0.010, 1e-12);
  EXPECT_THROW(esync::SlowdownModel(0.5), esync::ConfigError);
}

TEST(SlowdownModel, MeasuredBasisMultipliesTheStepJustMeasured) {
  // DESIGN's literal rule: sleep (f - 1) x this step, contention included, nothing owed.
  esync::SlowdownModel four(4.0, "measured");
  EXPECT_DOUBLE_EQ(four.sleep_for(0.010), 0.030);
  EXPECT_DOUBLE_EQ(four.sleep_for(0.025), 0.075);  // a contended step makes the device slower
  EXPECT_DOUBLE_EQ(four.sleep_for(0.010), 0.030);
  EXPECT_EQ(esync::SlowdownModel(1.0, "measured").sleep_for(0.01), 0.0);
  EXPECT_THROW(esync::SlowdownModel(2.0, "fast"), esync::ConfigError);
}

// The log summariser's numbers: synthetic job directories whose every figure is known exactly
// (per-worker totals, splits, staleness, K, timeline, accuracy, time to target, speed-up).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "esync/error.hpp"
#include "esync/summary.hpp"
#include "summary_logs.hpp"

namespace {

using namespace esync::test;

TEST(Summary, WorkerNumbersFromSyncAndEndEvents) {
  const json s = esync::summarize({make_esync_run("sum-w").string()});
  EXPECT_EQ(s["schema"], "esync.summary/1");
  ASSERT_EQ(s["runs"].size(), 1u);
  const json& run = s["runs"][0];
  EXPECT_EQ(run["label"], "esync");
  EXPECT_EQ(run["mode"], "esync");
  EXPECT_EQ(run["world"], 2);
  EXPECT_DOUBLE_EQ(run["t0_unix"].get<double>(), 1009.0);
  ASSERT_EQ(run["workers"].size(), 2u);

  const json& w0 = run["workers"][0];
  EXPECT_EQ(w0["rank"], 0);
  EXPECT_EQ(w0["device"], "cpu");
  EXPECT_EQ(w0["host"], "h0");
  EXPECT_EQ(w0["status"], "ok");
  EXPECT_EQ(w0["throughput_source"], "end");
  EXPECT_DOUBLE_EQ(w0["samples_per_s"].get<double>(), 416.0);
  EXPECT_DOUBLE_EQ(w0["samples"].get<double>(), 1664.0);
  EXPECT_DOUBLE_EQ(w0["steps"].get<double>(), 26.0);
  EXPECT_DOUBLE_EQ(w0["train_wall_s"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(w0["bytes_sent"].get<double>(), 400.0);
  EXPECT_DOUBLE_EQ(w0["bytes_recv"].get<double>(), 800.0);
  const json& split = w0["time_split"];
  EXPECT_DOUBLE_EQ(split["compute_s"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(split["comm_s"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(split["wait_s"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(split["injected_s"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(split["total_s"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(split["compute_frac"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(split["comm_frac"].get<double>(), 0.25);
  expect_fractions_sum_to_one(split);

  const json& st = w0["staleness"];  // taus 0, 1, 1, 4
  EXPECT_EQ(st["count"], 4);
  EXPECT_DOUBLE_EQ(st["mean"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(st["median"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(st["max"].get<double>(), 4.0);
  EXPECT_EQ(st["hist"], json::parse("[[0,1],[1,2],[4,1]]"));

  EXPECT_EQ(w0["k"]["per_round"], json::parse("[[0,4,4],[1,8,8],[2,8,8],[3,6,6]]"));
  EXPECT_DOUBLE_EQ(w0["k"]["assigned_mean"].get<double>(), 6.5);
  EXPECT_DOUBLE_EQ(w0["k"]["assigned_median"].get<double>(), 7.0);
  EXPECT_EQ(w0["k"]["coordinator"], json::parse("[[0,4,0.125],[1,8,0.125],[2,8,0.125],[3,6,0.125]]"));
  EXPECT_EQ(run["workers"][1]["k"]["coordinator"][0], json::parse("[0,2,null]"));  // poll-style: no step_s

  // Sync t 1010..1013 against t0 1009; each point is comm_s and sent + received bytes.
  EXPECT_EQ(w0["timeline"]["stride"], 1);
  EXPECT_EQ(w0["timeline"]["points"], json::parse("[[1,0.25,300],[2,0.25,300],[3,0.25,300],[4,0.25,300]]"));
  EXPECT_EQ(w0["timeline"]["fields"], json::parse(R"(["t_rel_s","comm_s","bytes"])"));
  ASSERT_EQ(run["job"]["lost"].size(), 1u);
  EXPECT_DOUBLE_EQ(run["job"]["lost"][0]["t_rel"].get<double>(), 5.0);
}

TEST(Summary, TimelineIsDownsampledKeepingTotals) {
  esync::SummaryOptions opt;
  opt.max_timeline_points = 3;  // 4 syncs -> stride 2, 2 points
  const json s = esync::summarize({make_esync_run("sum-tl").string()}, opt);
  const json& tl = s["runs"][0]["workers"][0]["timeline"];
  EXPECT_EQ(tl["stride"], 2);
  EXPECT_EQ(tl["points"], json::parse("[[2,0.5,600],[4,0.5,600]]"));
}

TEST(Summary, AccuracyCurveAndTimeToTarget) {
  const json s = esync::summarize({make_esync_run("sum-acc").string()});
  const json& acc = s["runs"][0]["accuracy"];
  EXPECT_EQ(acc["metric"], "acc");
  EXPECT_EQ(acc["curve"], json::parse("[[0,0,0.1],[1.5,1000,0.82],[2.5,1500,0.86],[3.5,2000,0.88]]"));
  EXPECT_DOUBLE_EQ(acc["final"]["value"].get<double>(), 0.88);
  EXPECT_DOUBLE_EQ(acc["final"]["wall_s"].get<double>(), 3.5);
  ASSERT_EQ(acc["time_to_target"].size(), 3u);  // default targets 0.80, 0.85, 0.90
  EXPECT_DOUBLE_EQ(acc["time_to_target"][0]["target"].get<double>(), 0.80);
  EXPECT_DOUBLE_EQ(acc["time_to_target"][0]["wall_s"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(acc["time_to_target"][0]["samples_seen"].get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(acc["time_to_target"][1]["wall_s"].get<double>(), 2.5);
  EXPECT_TRUE(acc["time_to_target"][2]["wall_s"].is_null());  // 0.90 never reached
  EXPECT_FALSE(s["runs"][0].contains("speedup"));
}

TEST(Summary, SpeedupAgainstABaselineSummary) {
  const fs::path bdir = temp_dir("sum-base") / "ssgd";
  fs::create_directories(bdir);
  write_log(
      bdir, "worker-0.jsonl",
      {start_ev(0, 1, "ssgd"), eval_ev(0, 0, 0.1), sync_ev(1001.0, 0, 1, 0.5, 0.25, 0.125, 0.125, 1, 1, 0),
       eval_ev(3.0, 900, 0.81), eval_ev(6.0, 1800, 0.86), end_ev(1007.0, 1632, 1, 6.0, 6.5, 272.0)});
  esync::SummaryOptions opt;
  opt.label = "iid";
  opt.baseline = esync::summarize({bdir.string()});
  const json s = esync::summarize({make_esync_run("sum-sp").string()}, opt);
  EXPECT_EQ(s["label"], "iid");
  const json& sp = s["runs"][0]["speedup"];
  EXPECT_EQ(sp["baseline"], "ssgd");
  EXPECT_EQ(sp["baseline_mode"], "ssgd");
  EXPECT_DOUBLE_EQ(sp["throughput_ratio"].get<double>(), 544.0 / 272.0);
  ASSERT_EQ(sp["time_to_target"].size(), 3u);
  EXPECT_DOUBLE_EQ(sp["time_to_target"][0]["time_s"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(sp["time_to_target"][0]["baseline_time_s"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(sp["time_to_target"][0]["time_ratio"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(sp["time_to_target"][0]["speedup"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(sp["time_to_target"][1]["speedup"].get<double>(), 6.0 / 2.5);
  EXPECT_TRUE(sp["time_to_target"][2]["speedup"].is_null());

  opt.baseline_run = "nope";
  EXPECT_THROW(esync::summarize({bdir.string()}, opt), esync::ConfigError);
  opt.baseline = json{{"schema", "other/1"}};
  EXPECT_THROW(esync::summarize({bdir.string()}, opt), esync::ConfigError);
}

TEST(Summary, LeastSquaresUsesRelGapTargets) {
  const fs::path dir = temp_dir("sum-ls") / "ls";
  fs::create_directories(dir);
  std::vector<json> w = {start_ev(0, 1, "ssgd"), sync_ev(1001.0, 0, 1, 0.5, 0.25, 0.125, 0.125, 1, 1, 0)};
  const double gaps[][2] = {{0.0, 1.0}, {1.0, 0.05}, {2.0, 0.005}};
  for (const auto& [wall, gap] : gaps)
    w.push_back({{"ev", "eval"},
                 {"t", 1002.0},
                 {"wall_s", wall},
                 {"samples_seen", 100 * wall},
                 {"loss", gap},
                 {"gap", gap},
                 {"rel_gap", gap}});
  write_log(dir, "worker-0.jsonl", w);
  const json s = esync::summarize({dir.string()});
  const json& acc = s["runs"][0]["accuracy"];
  EXPECT_EQ(acc["metric"], "rel_gap");
  EXPECT_DOUBLE_EQ(acc["final"]["value"].get<double>(), 0.005);
  ASSERT_EQ(acc["time_to_target"].size(), 3u);  // default loss targets 0.1, 0.01, 0.001
  EXPECT_DOUBLE_EQ(acc["time_to_target"][0]["wall_s"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(acc["time_to_target"][1]["wall_s"].get<double>(), 2.0);
  EXPECT_TRUE(acc["time_to_target"][2]["wall_s"].is_null());
  EXPECT_TRUE(has_warning(s, "ls/worker-0.jsonl: no end event"));
}

}  // namespace

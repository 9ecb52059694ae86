// The log summariser on logs cut short (a killed worker or shard, a corrupt line), on
// directories it must refuse, and on the logs committed in results/.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "esync/error.hpp"
#include "esync/summary.hpp"
#include "summary_logs.hpp"

namespace {

using namespace esync::test;

TEST(Summary, KilledWorkerUsesWhatIsThere) {
  const json s = esync::summarize({make_esync_run("sum-k").string()});
  const json& w1 = s["runs"][0]["workers"][1];
  EXPECT_EQ(w1["status"], "no_end");
  EXPECT_EQ(w1["throughput_source"], "sync_events");
  EXPECT_EQ(w1["rounds"], 3);  // the cut-short fourth sync is not counted
  EXPECT_DOUBLE_EQ(w1["samples"].get<double>(), 384.0);
  EXPECT_DOUBLE_EQ(w1["steps"].get<double>(), 6.0);
  // The first round began 1.0 s (its compute + comm + wait + injected) before its sync at
  // 1010.5; the last sync is at 1012.5: 384 samples in 3 s.
  EXPECT_DOUBLE_EQ(w1["train_wall_s"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(w1["samples_per_s"].get<double>(), 128.0);
  EXPECT_DOUBLE_EQ(w1["staleness"]["median"].get<double>(), 2.0);
  expect_fractions_sum_to_one(w1["time_split"]);

  EXPECT_TRUE(has_warning(s, "esync/worker-1.jsonl: last line cut short")) << s["warnings"].dump();
  EXPECT_TRUE(has_warning(s, "esync/worker-1.jsonl: no end event (process killed?), used 3 sync events"))
      << s["warnings"].dump();
  EXPECT_FALSE(has_warning(s, "worker-0.jsonl")) << s["warnings"].dump();
  EXPECT_EQ(s["runs"][0]["warnings"].size(), 2u) << s["runs"][0]["warnings"].dump();

  const json& job = s["runs"][0]["job"];
  EXPECT_DOUBLE_EQ(job["samples_per_s"].get<double>(), 416.0 + 128.0);
  EXPECT_DOUBLE_EQ(job["samples"].get<double>(), 2048.0);
  EXPECT_DOUBLE_EQ(job["bytes_sent"].get<double>(), 550.0);
  EXPECT_DOUBLE_EQ(job["bytes_recv"].get<double>(), 950.0);
  EXPECT_DOUBLE_EQ(job["train_wall_s"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(job["time_split"]["total_s"].get<double>(), 7.0);
  expect_fractions_sum_to_one(job["time_split"]);
}

TEST(Summary, FailedWorkerIsReportedWithItsError) {
  const fs::path dir = make_esync_run("sum-err");
  write_log(dir, "worker-1.jsonl",
            {start_ev(1, 2, "esync"),
             sync_ev(1010.5, 0, 2, 0.25, 0.5, 0.0, 0.25, 50, 50, 0),
             {{"ev", "end"}, {"t", 1011.0}, {"status", "error"}, {"error", "peer lost: worker 0"}}});
  const json s = esync::summarize({dir.string()});
  EXPECT_EQ(s["runs"][0]["workers"][1]["status"], "error");
  EXPECT_EQ(s["runs"][0]["workers"][1]["error"], "peer lost: worker 0");
  EXPECT_TRUE(has_warning(s, "worker-1.jsonl: ended with error (peer lost: worker 0), used 1 sync events"))
      << s["warnings"].dump();
}

TEST(Summary, ServerShardsWithoutEndEvent) {
  const fs::path dir = make_esync_run("sum-ps");
  write_log(dir, "server-0.jsonl",
            {{{"ev", "start"}, {"t", 1000.0}, {"shard", 0}},
             {{"ev", "ps"},
              {"t", 1011.0},
              {"version", 5},
              {"pushes", 5},
              {"pulls", 2},
              {"samples", 320.0},
              {"staleness_hist", {{"0", 1}, {"2", 4}}},
              {"staleness_mean", 1.6},
              {"staleness_max", 2}},
             {{"ev", "lost"}, {"t", 1012.0}, {"rank", 1}, {"round", 5}},
             {{"ev", "ps"},
              {"t", 1013.0},
              {"version", 12},
              {"pushes", 12},
              {"pulls", 2},
              {"samples", 768.0},
              {"staleness_hist", {{"0", 3}, {"2", 5}, {"10", 4}}},
              {"staleness_mean", 4.0},
              {"staleness_max", 10},
              {"bytes_in", 4096},
              {"bytes_out", 8192}}},
            "{\"ev\":\"end\",\"status\":\"o");
  const json s = esync::summarize({dir.string()});
  const json& sv = s["runs"][0]["servers"];
  ASSERT_EQ(sv.size(), 1u);
  EXPECT_EQ(sv[0]["shard"], 0);
  EXPECT_EQ(sv[0]["status"], "no_end");
  EXPECT_DOUBLE_EQ(sv[0]["version"].get<double>(), 12.0);
  EXPECT_DOUBLE_EQ(sv[0]["pushes"].get<double>(), 12.0);
  EXPECT_DOUBLE_EQ(sv[0]["bytes_out"].get<double>(), 8192.0);
  EXPECT_EQ(sv[0]["lost"], 1);
  EXPECT_EQ(sv[0]["staleness_hist"], json::parse("[[0,3],[2,5],[10,4]]"));  // numeric order
  EXPECT_TRUE(has_warning(s, "server-0.jsonl: last line cut short"));
  EXPECT_TRUE(has_warning(s, "server-0.jsonl: no end event (process killed?), used its last ps event"));
  EXPECT_EQ(s["runs"][0]["job"]["lost"].size(), 2u);  // the coordinator's and the shard's
}

TEST(Summary, DirectoryWithoutWorkerLogsIsIoError) {
  const fs::path empty = temp_dir("sum-empty");
  try {
    esync::summarize({empty.string()});
    FAIL() << "an empty directory was summarised";
  } catch (const esync::IoError& e) {
    EXPECT_NE(std::string(e.what()).find(empty.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no worker-*.jsonl"), std::string::npos) << e.what();
    EXPECT_EQ(e.exit_code(), 2);
  }
  write_log(empty, "coordinator-0.jsonl", {{{"ev", "start"}, {"t", 1.0}}});
  EXPECT_THROW(esync::summarize({empty.string()}), esync::IoError);
  EXPECT_THROW(esync::summarize({(empty / "missing").string()}), esync::IoError);
  // A later directory's failure fails the whole document: no half summaries.
  EXPECT_THROW(esync::summarize({make_esync_run("sum-e2").string(), empty.string()}), esync::IoError);
}

TEST(Summary, CorruptMiddleLineIsSkippedAndNamed) {
  const fs::path dir = temp_dir("sum-mid") / "run";
  fs::create_directories(dir);
  std::ofstream(dir / "worker-0.jsonl")
      << start_ev(0, 1, "ssgd").dump() << "\n{garbage\n"
      << sync_ev(1001.0, 0, 1, 0.5, 0.25, 0.125, 0.125, 1, 1, 0).dump() << "\n"
      << end_ev(1002.0, 64, 1, 1.0, 1.0, 64.0).dump() << "\n";
  const json s = esync::summarize({dir.string()});
  EXPECT_TRUE(has_warning(s, "run/worker-0.jsonl: line 2 is not a JSON object, skipped"))
      << s["warnings"].dump();
  EXPECT_EQ(s["runs"][0]["workers"][0]["rounds"], 1);
  EXPECT_DOUBLE_EQ(s["runs"][0]["workers"][0]["samples_per_s"].get<double>(), 64.0);
}

// The logs committed with the demo (results/demo/esync, written by a real `esync run`).
TEST(Summary, CommittedDemoLogs) {
  const std::string src = ESYNC_SOURCE_DIR;
  const json s = esync::summarize({src + "/results/demo/esync", src + "/results/demo/ssgd"});
  ASSERT_EQ(s["runs"].size(), 2u);
  EXPECT_TRUE(s["warnings"].empty()) << s["warnings"].dump();
  const json& run = s["runs"][0];
  EXPECT_EQ(run["mode"], "esync");
  ASSERT_EQ(run["workers"].size(), 3u);
  for (const auto& w : run["workers"]) {
    EXPECT_EQ(w["status"], "ok");
    EXPECT_GT(w["samples_per_s"].get<double>(), 0);
    EXPECT_GT(w["bytes_recv"].get<double>(), 0);
    EXPECT_FALSE(w["k"]["coordinator"].empty());
    EXPECT_LE(w["timeline"]["points"].size(), 500u);
    expect_fractions_sum_to_one(w["time_split"]);
  }
  const double final_acc = run["accuracy"]["final"]["value"].get<double>();
  EXPECT_GT(final_acc, 0.5);
  EXPECT_LT(final_acc, 1.0);
  EXPECT_TRUE(run["accuracy"]["time_to_target"][0]["wall_s"].is_number());  // time to 0.8
  EXPECT_NO_THROW((void)s.dump());
}

// Every mode's committed logs, parameter-server shards included, summarise without a warning.
TEST(Summary, CommittedModeLogs) {
  const fs::path modes = fs::path(ESYNC_SOURCE_DIR) / "results/distributed/modes";
  if (!fs::is_directory(modes)) GTEST_SKIP() << modes << " is not there";
  for (const auto& de : fs::directory_iterator(modes)) {
    if (!de.is_directory()) continue;
    const json s = esync::summarize({de.path().string()});
    EXPECT_TRUE(s["warnings"].empty()) << de.path() << ": " << s["warnings"].dump();
    const json& run = s["runs"][0];
    EXPECT_EQ(run["servers"].size(), fs::exists(de.path() / "server-0.jsonl") ? 1u : 0u) << de.path();
    for (const auto& sv : run["servers"]) EXPECT_FALSE(sv["staleness_hist"].empty()) << de.path();
  }
}

}  // namespace

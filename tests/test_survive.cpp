// Through `esync run`, not processes started by hand: a worker killed with SIGKILL once training
// has started, at a moment drawn at random, costs a parameter-server job (--on-failure continue,
// the default) nothing but that worker. The launcher names the loss and goes on, the job exits 0
// with its accuracy, and the launcher's log and the summary record who was lost and why. Rank 0,
// the evaluator, is survivable too: the lowest surviving rank then evaluates the final model.
#include <gtest/gtest.h>

#include <random>

#include "fault_job.hpp"

using namespace esync::test;

namespace {

// (mode, the rank killed): the job over one shard; the kill's moment is printed with its seed.
class Survive : public ::testing::TestWithParam<std::pair<std::string, int>> {};

TEST_P(Survive, AKilledWorkerCostsTheJobNothingButItself) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto [mode, victim] = GetParam();
  const std::string name = "worker-" + std::to_string(victim);
  const auto dir = fs::temp_directory_path() / ("esync-survive-" + mode + "-" + std::to_string(victim) + "-" +
                                                std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const pid_t run = spawn({ESYNC_BINARY, "run", "--workers", "3", "--mode", mode, "--servers", "1",
                           "--epochs", "2", "--threads", "1", "--timeout", "1200", "--log-dir", dir.string()},
                          dir / "run.out");
  // Training has started on the victim: its first round is logged. Then a random moment.
  const auto victim_log = dir / (name + ".jsonl");
  ASSERT_TRUE(wait_until([&] { return !events(victim_log, "sync").empty(); }, 600)) << slurp(dir / "run.out");
  const auto start = events(victim_log, "start");
  ASSERT_FALSE(start.empty());
  const auto pid = static_cast<pid_t>(start[0].value("pid", 0));
  ASSERT_GT(pid, 0);
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  const int delay_ms = std::uniform_int_distribution<int>(0, 3000)(rng);
  std::printf("seed %u: killing %s (pid %d) %d ms after its first round\n", seed, name.c_str(), pid,
              delay_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);

  const int rc = wait_exit(run, 1200);
  const std::string out = slurp(dir / "run.out");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(name + " (pid " + std::to_string(pid) + ") lost: killed by signal SIGKILL"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("the job finished without 1 lost worker(s)"), std::string::npos) << out;
  // The synchronous rule waits for the victim until the shard drops it: the state server's loss
  // (heartbeat timeout, 10 s) does, not the round's 60-s wait timeout.
  if (mode == "esync") {
    EXPECT_NE(out.find("dropped worker " + std::to_string(victim) + ": lost by the state server"),
              std::string::npos)
        << out;
  }
  // The launcher's record.
  const auto lost = events(dir / "launcher-0.jsonl", "lost");
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].value("rank", -1), victim);
  EXPECT_EQ(lost[0].value("why", ""), "killed by signal SIGKILL");
  EXPECT_GE(lost[0].value("last_round", -1), 0);
  // The survivors finished the job's two epochs, and the model learned: rank 0 evaluated it, or,
  // when rank 0 was the victim, rank 1.
  const auto end = events(dir / (victim == 0 ? "worker-1.jsonl" : "worker-0.jsonl"), "end");
  ASSERT_EQ(end.size(), 1u) << out;
  const auto final = end[0]["summary"]["final"];
  EXPECT_GE(final.value("epoch", 0.0), 1.99) << final.dump();
  EXPECT_GE(final.value("acc", 0.0), 0.80) << final.dump();
  EXPECT_TRUE(events(victim_log, "end").empty()) << "the victim ended normally: killed too late";
  // The summary lists the loss.
  const std::string summarize =
      std::string(ESYNC_BINARY) + " summarize " + dir.string() + " -o " + (dir / "summary.json").string();
  ASSERT_EQ(std::system((summarize + " > /dev/null 2>&1").c_str()), 0);
  std::ifstream in(dir / "summary.json");
  const auto summary = json::parse(in, nullptr, false);
  ASSERT_TRUE(summary.is_object());
  bool named = false;
  for (const auto& l : summary["runs"][0]["job"].value("lost", json::array()))
    named = named || (l.value("source", "") == "launcher" && l.value("rank", -1) == victim);
  EXPECT_TRUE(named) << summary.dump();
  ASSERT_TRUE(summary["runs"][0]["accuracy"]["final"].is_object()) << summary.dump();
  EXPECT_GE(summary["runs"][0]["accuracy"]["final"].value("value", 0.0), 0.80);
}

INSTANTIATE_TEST_SUITE_P(OverTheParameterServer, Survive,
                         ::testing::Values(std::make_pair("esync", 2), std::make_pair("asgd", 1),
                                           std::make_pair("dcasgd", 2), std::make_pair("esync", 0),
                                           std::make_pair("asgd", 0)));

}  // namespace

// Elastic join end to end: `esync run --workers 2 --max-workers 3` starts an ESync job over the
// parameter server; once it is running, a third `esync worker` is started by hand against its
// coordinator. It must join at a round of the running job (not from scratch), get its K from
// the state server from then on, push in every later round, and the job must still converge.
// With --overlap too: the running workers then have a push in flight when the joiner arrives,
// and take each round's result one round later, after their next round's steps.
#include <algorithm>

#include "fault_job.hpp"

using namespace esync::test;

namespace {

class Elastic : public ::testing::TestWithParam<bool> {};

TEST_P(Elastic, WorkerJoinsARunningEsyncJob) {
  const bool overlap = GetParam();
  const auto dir = temp_dir(overlap ? "elastic-esync-overlap" : "elastic-esync");
  std::vector<std::string> run = {ESYNC_BINARY,       "run",      "--log-dir",  dir.string(),
                                  "--timeout",        "200",      "--workers",  "2",
                                  "--max-workers",    "3",        "--mode",     "esync",
                                  "--servers",        "2",        "--slowdown", "1,4,1",
                                  "--slowdown-basis", "measured", "--dataset",  "least-squares",
                                  "--ls-matrix",      "normal",   "--model",    "linreg",
                                  "--optimizer",      "sgd",      "--local-lr", "0.2",
                                  "--batch",          "128",      "--epochs",   "60",
                                  "--threads",        "1",        "--k-base",   "2",
                                  "--k-max",          "4",        "--delay",    "constant:20ms",
                                  "--eval-every",     "0.5"};
  // --k-max 4 and 60 epochs: at least 600 000 / (3 x 4 x 128) = 390 rounds of at least 20 ms, so
  // the job outlasts the joiner's start on a busy host (with 24 epochs and K up to 64 it once ended
  // before the joiner registered).
  if (overlap) run.push_back("--overlap");
  const pid_t job = spawn(run, dir.string() + ".out");
  const auto log0 = dir / "worker-0.jsonl";
  ASSERT_TRUE(wait_until([&] { return events(log0, "sync").size() >= 10; }, 60))
      << slurp(dir.string() + ".out");
  const int port = std::stoi(slurp(dir / "coordinator.port"));
  const pid_t joiner = spawn({ESYNC_BINARY, "worker", "--coordinator", "127.0.0.1:" + std::to_string(port),
                              "--device", "cpu", "--wait-timeout", "20"},
                             dir / "joiner.out");
  EXPECT_EQ(wait_exit(joiner, 120), 0) << slurp(dir / "joiner.out");
  ASSERT_EQ(wait_exit(job, 60), 0) << slurp(dir.string() + ".out");

  // The joiner took the elastic slot, joined at a round already reached, and continued from it.
  const auto log2 = dir / "worker-2.jsonl";
  const auto join = events(log2, "join");
  ASSERT_EQ(join.size(), 1u) << slurp(dir / "joiner.out");
  const auto at = join[0]["version"].get<std::uint64_t>();
  EXPECT_GE(at, 10u);
  const auto syncs = events(log2, "sync");
  ASSERT_GE(syncs.size(), 10u) << "it joined so late that there is nothing to judge";
  EXPECT_EQ(syncs.front()["round"].get<std::uint64_t>(), at) << "its first round is the one it joined at";
  for (const auto& s : syncs) EXPECT_GE(s["k_assigned"].get<int>(), 1);
  // The state server measured it and gave it its own K (slowdown 1: like the fast rank 0; rank 1
  // is 4x slower, so that a sub-millisecond step with a noisy neighbour still counts as fast, and
  // 4x its own step just measured, so that load on the host slows it as much as the joiner). The
  // median over its rounds: its first rounds run at K_base, before its step time is known, and
  // under a loaded machine one round's K can dip.
  std::vector<int> k_rank2;
  for (const auto& a : events(dir / "coordinator-0.jsonl", "assign"))
    if (a["rank"] == 2) k_rank2.push_back(a["k"].get<int>());
  ASSERT_FALSE(k_rank2.empty());
  std::nth_element(k_rank2.begin(), k_rank2.begin() + k_rank2.size() / 2, k_rank2.end());
  EXPECT_GE(k_rank2[k_rank2.size() / 2], 3) << "a fast joiner gets more than the slow worker's K_base 2";
  // Both shards added it at the same version; every later round waited for its push.
  for (int s = 0; s < 2; ++s) {
    const auto j = events(dir / ("server-" + std::to_string(s) + ".jsonl"), "join");
    ASSERT_EQ(j.size(), 1u) << "shard " << s;
    EXPECT_EQ(j[0]["version"].get<std::uint64_t>(), at) << "shard " << s;
    EXPECT_EQ(j[0]["live"].get<int>(), 3);
  }
  // With overlap, part of the reductions ran behind the steps (the rest held the worker up: its
  // sub-millisecond steps are shorter than the 20 ms of --delay); without, none did.
  double hidden = 0;
  for (const auto& e : events(log0, "sync")) hidden += e.value("hidden_s", 0.0);
  if (overlap)
    EXPECT_GT(hidden, 0.0);
  else
    EXPECT_EQ(hidden, 0.0);
  const auto evals = events(log0, "eval");
  ASSERT_FALSE(evals.empty());
  EXPECT_LT(evals.back()["rel_gap"].get<double>(), 1e-3) << evals.back().dump();
}

INSTANTIATE_TEST_SUITE_P(Sync, Elastic, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Overlap" : "Synchronous"; });

TEST(ElasticFlags, RefusedWithoutTheParameterServerOrBeyondCapacity) {
  const auto dir = temp_dir("elastic-refused");
  const pid_t p = spawn({ESYNC_BINARY, "run", "--log-dir", dir.string(), "--workers", "2", "--max-workers",
                         "3", "--mode", "esync", "--dataset", "least-squares", "--model", "linreg"},
                        dir.string() + ".out");
  EXPECT_EQ(wait_exit(p, 30), 2);
  EXPECT_NE(slurp(dir.string() + ".out").find("--max-workers needs the parameter server"), std::string::npos)
      << slurp(dir.string() + ".out");
}

}  // namespace

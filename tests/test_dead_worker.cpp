// A process killed with SIGKILL in the middle of a job never hangs the others (fault_job.hpp
// starts the processes by hand, so the survivors' own behaviour is what is tested):
//   allreduce modes (ssgd, esync, local-sgd over gloo) under --on-failure abort: every survivor
//   stops with an error naming the lost worker (under continue the group re-forms: test_survive);
//   parameter-server modes (esync, ssgd, asgd, dcasgd): the shard drops the silent worker after
//   its timeout and the others finish the job, converged;
//   a dead coordinator or PS shard: every worker stops within its timeouts, saying which.
#include <gtest/gtest.h>

#include "fault_job.hpp"

namespace {

using esync::test::events;
using esync::test::Job;
using esync::test::wait_exit;
using nlohmann::json;

class AllreduceMode : public ::testing::TestWithParam<std::string> {};

TEST_P(AllreduceMode, SurvivorsStopNamingTheLostWorker) {
  Job job("dead-allreduce-" + GetParam(),
          {{"mode", GetParam()}, {"epochs", 1000}, {"time_budget_s", 120.0}, {"on_failure", "abort"}}, 0);
  job.kill_worker(1);
  for (const int r : {0, 2}) {
    const std::string role = "worker-" + std::to_string(r);
    const int code = wait_exit(job.workers[static_cast<std::size_t>(r)], 40);
    EXPECT_NE(code, -1) << role << " hung after its peer died:\n" << job.out(role);
    EXPECT_NE(code, 0) << job.out(role);
    const json end = job.end_event(role);
    ASSERT_TRUE(end.is_object()) << job.out(role);
    EXPECT_EQ(end.value("status", ""), "error");
    EXPECT_NE(end.value("error", "").find("worker 1"), std::string::npos) << end.dump();
  }
}
INSTANTIATE_TEST_SUITE_P(Gloo, AllreduceMode, ::testing::Values("ssgd", "esync", "local-sgd"),
                         [](const auto& info) {
                           return info.param == "local-sgd" ? std::string("local_sgd") : info.param;
                         });

class ParameterServerMode : public ::testing::TestWithParam<std::string> {};

TEST_P(ParameterServerMode, ShardDropsTheLostWorkerAndTheOthersFinish) {
  // A time budget, not epochs: the asynchronous modes would finish a few epochs before the kill.
  Job job("dead-ps-" + GetParam(), {{"mode", GetParam()}, {"epochs", 0}, {"time_budget_s", 8.0}}, 1);
  job.kill_worker(1);
  for (const int r : {0, 2}) {
    const std::string role = "worker-" + std::to_string(r);
    EXPECT_EQ(wait_exit(job.workers[static_cast<std::size_t>(r)], 90), 0) << job.out(role);
  }
  const auto lost = events(job.dir / "server-0.jsonl", "lost");
  ASSERT_EQ(lost.size(), 1u) << job.out("server-0");
  EXPECT_EQ(lost[0].value("rank", -1), 1);
  const auto evals = events(job.dir / "worker-0.jsonl", "eval");
  ASSERT_FALSE(evals.empty());
  EXPECT_LT(evals.back().value("rel_gap", 1.0), 1e-2) << evals.back().dump();
}
INSTANTIATE_TEST_SUITE_P(Ps, ParameterServerMode, ::testing::Values("esync", "ssgd", "asgd", "dcasgd"));

TEST(ParameterServerOnFailureAbort, TheShardStopsNamingTheLostWorker) {
  Job job("dead-ps-abort",
          {{"mode", "asgd"}, {"epochs", 0}, {"time_budget_s", 60.0}, {"on_failure", "abort"}}, 1);
  job.kill_worker(1);
  const int code = wait_exit(job.servers[0], 30);
  EXPECT_NE(code, -1) << "the shard did not stop:\n" << job.out("server-0");
  EXPECT_NE(code, 0) << job.out("server-0");
  EXPECT_NE(job.out("server-0").find("lost worker 1"), std::string::npos) << job.out("server-0");
  for (const int r : {0, 2})  // the shard is gone: the others stop too (its launcher would stop them at once)
    EXPECT_NE(wait_exit(job.workers[static_cast<std::size_t>(r)], 40), -1)
        << job.out("worker-" + std::to_string(r));
}

// Seconds from the kill until every worker has exited non-zero, each with `what` in its error.
double all_workers_stop(Job& job, const std::string& what, double bound) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < 3; ++r) {
    const std::string role = "worker-" + std::to_string(r);
    const int code = wait_exit(job.workers[static_cast<std::size_t>(r)], bound);
    EXPECT_NE(code, -1) << role << " hung:\n" << job.out(role);
    EXPECT_NE(code, 0) << job.out(role);
    const json end = job.end_event(role);
    EXPECT_NE(end.value("error", "").find(what), std::string::npos) << role << ": " << end.dump() << "\n"
                                                                    << job.out(role);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(DeadService, CoordinatorLostStopsEveryWorker) {
  // ssgd over gloo never asks the coordinator during the job: only the heartbeat notices.
  Job job("dead-coordinator", {{"mode", "ssgd"}, {"epochs", 1000}, {"time_budget_s", 120.0}}, 0);
  job.kill_hard(job.coordinator);
  const double took = all_workers_stop(job, "state server", 30);
  std::printf("workers stopped %.1f s after the coordinator died (heartbeat timeout 2 s)\n", took);
}

TEST(DeadService, ParameterServerShardLostStopsEveryWorker) {
  Job job("dead-shard", {{"mode", "asgd"}, {"epochs", 1000}, {"time_budget_s", 120.0}}, 1);
  job.kill_hard(job.servers[0]);
  const double took = all_workers_stop(job, "parameter-server shard(s) 0", 30);
  std::printf("workers stopped %.1f s after shard 0 died (worker timeout 10 s)\n", took);
}

}  // namespace

// A worker killed with SIGKILL in the middle of a job never hangs the others. The processes are
// started by hand here (not by `esync run`, which would stop the survivors itself), so what is
// tested is the survivors' own behaviour:
//   allreduce (ssgd/gloo): every survivor stops with an error naming the lost worker;
//   parameter server, sync rule (esync): the shard drops the silent worker after its timeout
//   and the survivors finish the job normally.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kToken = "dead-worker-test-token";

pid_t spawn(const std::vector<std::string>& args, const fs::path& out) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::setenv("ESYNC_TOKEN", kToken.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Exit code, or -1 if the process is still running at the deadline (then it is killed).
int wait_exit(pid_t pid, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int st = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &st, 0);
  return -1;
}

std::vector<json> events(const fs::path& file, const std::string& ev) {
  std::vector<json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (auto j = json::parse(line, nullptr, false); !j.is_discarded() && j.value("ev", "") == ev) out.push_back(j);
  return out;
}

bool wait_until(const std::function<bool()>& ok, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Job {
  fs::path dir;
  pid_t coordinator = -1;
  std::vector<pid_t> servers, workers;
  std::string address;

  // Coordinator, shards and three workers of a least-squares job that would run for a while.
  Job(const std::string& name, json job, int servers_n) : dir(esync::test::temp_dir(name)) {
    job.update({{"dataset", "least-squares"}, {"ls_matrix", "normal"}, {"model", "linreg"}, {"batch", 64},
                {"optimizer", "sgd"}, {"lr", 0.05}, {"local_lr", 0.05}, {"threads", 1}, {"log_dir", dir.string()},
                {"heartbeat_timeout_s", 2.0}, {"servers", servers_n}, {"eval_every_s", 0.5}});
    std::ofstream(dir / "job.json") << job.dump();
    const std::string exe = ESYNC_BINARY;
    coordinator = spawn({exe, "coordinator", "--workers", "3", "--port", "0", "--port-file", (dir / "port").string(), "--job",
                         (dir / "job.json").string(), "--log-dir", dir.string(), "--heartbeat-timeout", "2"},
                        dir / "coordinator.out");
    EXPECT_TRUE(wait_until([&] { return slurp(dir / "port").find('\n') != std::string::npos; }, 20));
    address = "127.0.0.1:" + std::to_string(std::stoi(slurp(dir / "port")));
    for (int s = 0; s < servers_n; ++s)
      servers.push_back(spawn({exe, "server", "--shard", std::to_string(s), "--coordinator", address, "--timeout", "3"},
                              dir / ("server-" + std::to_string(s) + ".out")));
    for (int r = 0; r < 3; ++r)
      workers.push_back(spawn({exe, "worker", "--coordinator", address, "--rank", std::to_string(r), "--timeout", "10"},
                              dir / ("worker-" + std::to_string(r) + ".out")));
  }
  ~Job() {  // whatever still runs (a child already reaped is no longer ours: waitpid fails)
    auto stop = [](pid_t p) {
      if (::waitpid(p, nullptr, WNOHANG) == 0) wait_exit(p, 0);
    };
    for (pid_t p : workers) stop(p);
    for (pid_t p : servers) stop(p);
    stop(coordinator);
  }
  // Waits until rank r has synchronised a few times, then kills it.
  void kill_worker(int r) {
    const auto log = dir / ("worker-" + std::to_string(r) + ".jsonl");
    ASSERT_TRUE(wait_until([&] { return events(log, "sync").size() >= 3; }, 60)) << slurp(dir / "worker-1.out");
    ::kill(workers[static_cast<std::size_t>(r)], SIGKILL);
    wait_exit(workers[static_cast<std::size_t>(r)], 10);
  }
};

TEST(DeadWorker, AllreduceSurvivorsStopNamingTheLostWorker) {
  Job job("dead-allreduce", {{"mode", "ssgd"}, {"epochs", 1000}, {"time_budget_s", 120.0}}, 0);
  job.kill_worker(1);
  for (const int r : {0, 2}) {
    const int code = wait_exit(job.workers[static_cast<std::size_t>(r)], 40);
    const auto out = slurp(job.dir / ("worker-" + std::to_string(r) + ".out"));
    EXPECT_NE(code, -1) << "worker " << r << " hung after its peer died:\n" << out;
    EXPECT_NE(code, 0) << out;
    const auto end = events(job.dir / ("worker-" + std::to_string(r) + ".jsonl"), "end");
    ASSERT_EQ(end.size(), 1u) << out;
    EXPECT_EQ(end[0].value("status", ""), "error");
    EXPECT_NE(end[0].value("error", "").find("worker 1"), std::string::npos) << end[0].dump();
  }
}

TEST(DeadWorker, ParameterServerDropsItAndTheOthersFinish) {
  Job job("dead-ps", {{"mode", "esync"}, {"epochs", 4}, {"time_budget_s", 120.0}}, 1);
  job.kill_worker(1);
  for (const int r : {0, 2}) {
    const int code = wait_exit(job.workers[static_cast<std::size_t>(r)], 90);
    EXPECT_EQ(code, 0) << slurp(job.dir / ("worker-" + std::to_string(r) + ".out"));
  }
  const auto lost = events(job.dir / "server-0.jsonl", "lost");
  ASSERT_EQ(lost.size(), 1u) << slurp(job.dir / "server-0.out");
  EXPECT_EQ(lost[0].value("rank", -1), 1);
  const auto evals = events(job.dir / "worker-0.jsonl", "eval");
  ASSERT_FALSE(evals.empty());
  EXPECT_LT(evals.back().value("rel_gap", 1.0), 1e-2) << evals.back().dump();
}

}  // namespace

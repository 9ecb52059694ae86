#pragma once
// Jobs of real esync processes started by hand (not by `esync run`, which would stop the
// survivors itself), so the fault tests see the survivors' own behaviour: spawn, wait with a
// deadline, read JSONL events, kill one process at a chosen moment.
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

namespace esync::test {

namespace fs = std::filesystem;
using nlohmann::json;

inline const std::string kToken = "dead-worker-test-token";

inline pid_t spawn(const std::vector<std::string>& args, const fs::path& out) {
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
inline int wait_exit(pid_t pid, double seconds) {
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

inline std::vector<json> events(const fs::path& file, const std::string& ev) {
  std::vector<json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (auto j = json::parse(line, nullptr, false); !j.is_discarded() && j.value("ev", "") == ev)
      out.push_back(j);
  return out;
}

inline bool wait_until(const std::function<bool()>& ok, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Job {
  fs::path dir;
  pid_t coordinator = -1;
  std::vector<pid_t> servers, workers;
  std::string address;

  // Coordinator, shards and three workers of a least-squares job that would run for a while.
  // `overrides` wins over the defaults here.
  Job(const std::string& name, const json& overrides, int servers_n) : dir(esync::test::temp_dir(name)) {
    json job = {{"dataset", "least-squares"},
                {"ls_matrix", "normal"},
                {"model", "linreg"},
                {"batch", 64},
                {"optimizer", "sgd"},
                {"lr", 0.05},
                {"local_lr", 0.05},
                {"threads", 1},
                {"log_dir", dir.string()},
                {"heartbeat_timeout_s", 2.0},
                {"heartbeat_interval_s", 0.5},
                {"servers", servers_n},
                {"eval_every_s", 0.5}};
    job.update(overrides);
    std::ofstream(dir / "job.json") << job.dump();
    const std::string exe = ESYNC_BINARY;
    coordinator =
        spawn({exe, "coordinator", "--workers", "3", "--port", "0", "--port-file", (dir / "port").string(),
               "--job", (dir / "job.json").string(), "--log-dir", dir.string(), "--heartbeat-timeout", "2"},
              dir / "coordinator.out");
    EXPECT_TRUE(wait_until([&] { return slurp(dir / "port").find('\n') != std::string::npos; }, 20));
    address = "127.0.0.1:" + std::to_string(std::stoi(slurp(dir / "port")));
    for (int s = 0; s < servers_n; ++s)
      servers.push_back(spawn(
          {exe, "server", "--shard", std::to_string(s), "--coordinator", address, "--wait-timeout", "3"},
          dir / ("server-" + std::to_string(s) + ".out")));
    for (int r = 0; r < 3; ++r)
      workers.push_back(spawn(
          {exe, "worker", "--coordinator", address, "--rank", std::to_string(r), "--wait-timeout", "10"},
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
  // Waits until every worker has synchronised a few times (the job is in full swing).
  void wait_running() {
    for (int r = 0; r < 3; ++r) {
      const auto log = dir / ("worker-" + std::to_string(r) + ".jsonl");
      ASSERT_TRUE(wait_until([&] { return events(log, "sync").size() >= 3; }, 60))
          << slurp(dir / ("worker-" + std::to_string(r) + ".out"));
    }
  }
  // SIGKILL mid-job: no goodbye, sockets torn down by the kernel.
  void kill_hard(pid_t& p) {
    wait_running();
    ::kill(p, SIGKILL);
    wait_exit(p, 10);
  }
  void kill_worker(int r) { kill_hard(workers[static_cast<std::size_t>(r)]); }
  std::string out(const std::string& role) const { return slurp(dir / (role + ".out")); }
  json end_event(const std::string& role) const {
    const auto e = events(dir / (role + ".jsonl"), "end");
    return e.size() == 1 ? e[0] : json();
  }
};

}  // namespace esync::test

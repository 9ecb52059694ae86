// The state server's Prometheus metrics (esync run --metrics-port) scraped during a job over
// plain HTTP: the exposition format (every sample under its family's HELP and TYPE), each worker
// with its device, K, step time, samples/s, state, round, staleness and bytes, the job's round,
// samples seen and accuracy (once the idle-priority evaluator has one); moving while the job runs;
// 404 for another path.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "fault_job.hpp"

using namespace esync::test;

namespace {

// GET path from 127.0.0.1:port; the whole response ("" when nothing answers).
std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    (void)::send(fd, req.data(), req.size(), 0);
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// "name{labels}" -> value, checking the format on the way: every sample's family announced by
// HELP and TYPE before it.
std::map<std::string, double> samples_of(const std::string& body) {
  std::map<std::string, double> out;
  std::set<std::string> typed;
  const std::regex sample(R"(^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+-]+)$)");
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) typed.insert(line.substr(7, line.find(' ', 7) - 7));
    if (line.empty() || line[0] == '#') continue;
    std::smatch m;
    EXPECT_TRUE(std::regex_match(line, m, sample)) << line;
    if (m.empty()) continue;
    EXPECT_TRUE(typed.count(m[1])) << "no # TYPE before " << line;
    out[m[1].str() + m[2].str()] = std::stod(m[3]);
  }
  return out;
}

TEST(Metrics, PrometheusScrapeDuringAJob) {
  const auto dir = temp_dir("metrics");
  const pid_t job = spawn(
      {ESYNC_BINARY,   "run", "--workers",      "2", "--mode",        "esync", "--slowdown", "1,2",
       "--k-base",     "2",   "--epochs",       "0", "--time-budget", "20",    "--threads",  "1",
       "--eval-every", "1",   "--metrics-port", "0", "--timeout",     "240",   "--log-dir",  dir.string()},
      dir.string() + ".out");
  int port = -1;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto text = slurp(dir / "metrics.port");
        return !text.empty() && text.back() == '\n' && (port = std::stoi(text)) > 0;
      },
      120))
      << slurp(dir.string() + ".out");
  // Scrape until the job has done a few more rounds (however slow the host).
  std::map<std::string, double> first, now;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto r = http_get(port, "/metrics");
        if (r.rfind("HTTP/1.0 200 OK\r\n", 0) != 0) return false;
        now = samples_of(r.substr(r.find("\r\n\r\n") + 4));
        if (first.empty() && now["esync_job_round"] >= 1) first = now;
        return !first.empty() && now["esync_job_round"] >= first["esync_job_round"] + 3;
      },
      200))
      << slurp(dir.string() + ".out");
  EXPECT_GT(now["esync_job_samples_seen"], first["esync_job_samples_seen"]);
  EXPECT_EQ(now["esync_job_workers{state=\"live\"}"], 2);
  EXPECT_EQ(now["esync_job_info{mode=\"esync\",policy=\"assign\"}"], 1);
  for (const std::string w : {"{rank=\"0\",device=\"cpu\"}", "{rank=\"1\",device=\"cpu\"}"}) {
    EXPECT_EQ(now["esync_worker_up" + w], 1) << w;
    EXPECT_GE(now["esync_worker_k" + w], 1) << w;
    EXPECT_GT(now["esync_worker_step_seconds" + w], 0) << w;
    EXPECT_GT(now["esync_worker_samples_per_second" + w], 0) << w;
    EXPECT_GT(now["esync_worker_samples_total" + w], 0) << w;
    EXPECT_GT(now["esync_worker_round" + w], 0) << w;
    EXPECT_GT(now["esync_worker_sent_bytes_total" + w], 0) << w;
    EXPECT_TRUE(now.count("esync_worker_staleness" + w)) << w;
  }
  // The evaluator runs at idle priority: on a host whose cores are all busy it may have nothing
  // to report until training ends, so the accuracy is checked only when it is there.
  if (now.count("esync_job_test_accuracy")) {
    EXPECT_GE(now["esync_job_test_accuracy"], 0);
    EXPECT_LE(now["esync_job_test_accuracy"], 1);
  }
  // A 20 s time budget: progress by the clock, the time left with it.
  EXPECT_GT(now["esync_job_progress_ratio"], 0);
  EXPECT_LE(now["esync_job_progress_ratio"], 1);
  EXPECT_LE(now["esync_job_eta_seconds"], 20);
  EXPECT_EQ(now["esync_job_epochs_target"], 0);
  EXPECT_GT(now["esync_job_epochs"], 0);
  EXPECT_EQ(http_get(port, "/other").rfind("HTTP/1.0 404", 0), 0u);
  EXPECT_EQ(wait_exit(job, 240), 0) << slurp(dir.string() + ".out");
}

}  // namespace

// ProcessGroup with /bin/sh children: prefixed untorn output, failure propagation, daemons,
// the global deadline, signals. The group's output goes to a temporary file that each test reads.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/process_group.hpp"
#include "esync/error.hpp"

namespace esync::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

ChildSpec sh(const std::string& name, const std::string& script, bool daemon = false) {
  return ChildSpec{name, {"/bin/sh", "-c", script}, {}, daemon};
}

// Owns the temporary file the group writes to (both streams, as a terminal would show them).
class Captured {
 public:
  Captured() : file_(std::tmpfile(), &std::fclose) {}
  ProcessGroupOptions options(std::chrono::milliseconds grace = 3000ms) const {
    ProcessGroupOptions o;
    o.out_fd = o.err_fd = fileno(file_.get());
    o.grace = grace;
    return o;
  }
  std::vector<std::string> lines() const {
    std::rewind(file_.get());
    std::vector<std::string> out;
    std::string line;
    for (int c; (c = std::fgetc(file_.get())) != EOF;) {
      if (c != '\n')
        line.push_back(static_cast<char>(c));
      else
        out.push_back(std::move(line)), line.clear();
    }
    EXPECT_TRUE(line.empty()) << "an unterminated line: " << line;
    return out;
  }
  std::string text() const {
    std::string all;
    for (const auto& l : lines()) all += l + "\n";
    return all;
  }

 private:
  std::unique_ptr<FILE, int (*)(FILE*)> file_;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

TEST(ProcessGroup, PrefixesEveryLineOfBothStreams) {
  Captured cap;
  {
    ProcessGroup g(cap.options());
    g.start(sh("a", "echo one; echo two >&2; printf 'no newline'"));
    g.start(sh("longer-name", "echo three"));
    EXPECT_EQ(g.wait_all(10s), 0);
  }
  const auto t = cap.text();
  EXPECT_NE(t.find("[a]           one\n"), std::string::npos) << t;
  EXPECT_NE(t.find("[a]           two\n"), std::string::npos) << t;
  EXPECT_NE(t.find("[a]           no newline\n"), std::string::npos) << t;
  EXPECT_NE(t.find("[longer-name] three\n"), std::string::npos) << t;
}

TEST(ProcessGroup, PassesEnvironment) {
  Captured cap;
  {
    ProcessGroup g(cap.options());
    ChildSpec c = sh("env", "echo \"token=$PG_TOKEN home=${HOME:+set}\"");
    c.env = {{"PG_TOKEN", "abc123"}};
    g.start(std::move(c));
    EXPECT_EQ(g.wait_all(10s), 0);
  }
  EXPECT_NE(cap.text().find("[env] token=abc123 home=set"), std::string::npos) << cap.text();
}

TEST(ProcessGroup, InterleavedLinesAreNeverTorn) {
  // Two children write 300 lines of 3000 bytes each at once: the pipe delivers them in pieces
  // that split lines, yet every printed line must be whole.
  Captured cap;
  {
    ProcessGroup g(cap.options());
    const std::string loop = "i=0; while [ $i -lt 300 ]; do echo \"$L\"; i=$((i+1)); done";
    for (const char* name : {"x", "y"}) {
      ChildSpec c = sh(name, loop);
      c.env = {{"L", std::string(3000, name[0])}};
      g.start(std::move(c));
    }
    EXPECT_EQ(g.wait_all(30s), 0);
  }
  const auto lines = cap.lines();
  ASSERT_EQ(lines.size(), 600u);
  int x = 0;
  for (const auto& l : lines) {
    const bool is_x = l == "[x] " + std::string(3000, 'x');
    EXPECT_TRUE(is_x || l == "[y] " + std::string(3000, 'y')) << l.substr(0, 80);
    x += is_x;
  }
  EXPECT_EQ(x, 300);
}

TEST(ProcessGroup, FailureStopsTheRestAndNamesTheChild) {
  Captured cap;
  const auto t0 = Clock::now();
  int rc = 0;
  std::string error;
  {
    ProcessGroup g(cap.options());
    g.start(sh("sleeper", "sleep 30"));
    const pid_t bad = g.start(sh("bad", "sleep 0.2; echo about to fail; exit 3"));
    rc = g.wait_all(60s);
    error = g.error();
    EXPECT_EQ(error, "bad (pid " + std::to_string(bad) + ") failed: exit code 3");
    EXPECT_EQ(g.pid("sleeper"), -1) << "reaped before wait_all returns";
  }
  EXPECT_EQ(rc, ProcessGroup::kFailed);
  EXPECT_LT(seconds_since(t0), 10.0);
  const auto t = cap.text();
  const auto last = t.find("[bad]     about to fail\n");
  const auto verdict = t.find("esync run: " + error + "\n");
  ASSERT_NE(last, std::string::npos) << t;
  ASSERT_NE(verdict, std::string::npos) << t;
  EXPECT_LT(last, verdict) << "the child's last output comes before the verdict";
  EXPECT_EQ(t.find("sleeper ("), std::string::npos) << "only the first failure is named: " << t;
}

TEST(ProcessGroup, DaemonIsStoppedWhenTheOthersFinish) {
  Captured cap;
  const auto t0 = Clock::now();
  {
    ProcessGroup g(cap.options(500ms));
    g.start(
        sh("coordinator", "trap 'echo stopping; exit 0' TERM; echo up; while :; do sleep 0.05; done", true));
    g.start(sh("stubborn", "trap '' TERM; while :; do sleep 0.05; done", true));
    g.start(sh("worker-0", "sleep 0.3; echo done"));
    // The stubborn daemon ignores SIGTERM and needs SIGKILL: still no failure.
    EXPECT_EQ(g.wait_all(30s), 0) << cap.text();
    EXPECT_TRUE(g.error().empty()) << g.error();
  }
  EXPECT_LT(seconds_since(t0), 10.0);
  const auto t = cap.text();
  EXPECT_NE(t.find("[worker-0]    done"), std::string::npos) << t;
  EXPECT_NE(t.find("[coordinator] stopping"), std::string::npos) << t;
  EXPECT_NE(t.find("sending SIGKILL to stubborn"), std::string::npos) << t;
}

TEST(ProcessGroup, DeadlineKillsAHangingGroup) {
  Captured cap;
  const auto t0 = Clock::now();
  {
    ProcessGroup g(cap.options(500ms));
    g.start(sh("hang", "trap '' TERM; sleep 30"));
    g.start(sh("svc", "sleep 30", true));
    EXPECT_EQ(g.wait_all(1s), ProcessGroup::kTimedOut);
    EXPECT_EQ(g.error(), "timed out after 1 s (still running: hang, svc)");
  }
  EXPECT_LT(seconds_since(t0), 5.0);
  EXPECT_NE(cap.text().find("esync run: timed out after 1 s"), std::string::npos) << cap.text();
}

TEST(ProcessGroup, SignalDeathIsReported) {
  Captured cap;
  {
    ProcessGroup g(cap.options());
    const pid_t victim = g.start(sh("worker-1", "sleep 30"));
    g.start(sh("worker-0", "sleep 30"));
    ASSERT_EQ(g.pid("worker-1"), victim);
    EXPECT_EQ(g.pid("nobody"), -1);
    EXPECT_FALSE(g.kill("nobody", SIGKILL));
    ASSERT_TRUE(g.kill("worker-1", SIGKILL));
    EXPECT_EQ(g.wait_all(20s), ProcessGroup::kFailed);
    EXPECT_EQ(g.error(), "worker-1 (pid " + std::to_string(victim) + ") failed: killed by signal SIGKILL");
  }
}

// An expendable child's failure is a loss: named on one line, reported to on_lost, and the others
// go on; the group succeeds when a worker finished the job, and fails when every worker was lost.
TEST(ProcessGroup, ExpendableChildLostTheOthersGoOn) {
  Captured cap;
  std::vector<std::string> reported;
  {
    auto opt = cap.options(500ms);
    opt.on_lost = [&](const std::string& name, const std::string& why, bool) {
      reported.push_back(name + ": " + why);
      return true;
    };
    ProcessGroup g(opt);
    g.start(sh("svc", "while :; do sleep 0.05; done", true));
    ChildSpec lost = sh("worker-1", "sleep 30");
    lost.expendable = true;
    const pid_t victim = g.start(lost);
    g.start(sh("worker-0", "sleep 0.5; echo done"));
    ASSERT_TRUE(g.kill("worker-1", SIGKILL));
    EXPECT_EQ(g.wait_all(30s), 0) << cap.text();
    EXPECT_TRUE(g.error().empty()) << g.error();
    EXPECT_EQ(g.lost(), std::vector<std::string>{"worker-1"});
    EXPECT_NE(cap.text().find("worker-1 (pid " + std::to_string(victim) +
                              ") lost: killed by signal SIGKILL; the job goes on without it"),
              std::string::npos)
        << cap.text();
  }
  EXPECT_EQ(reported, std::vector<std::string>{"worker-1: killed by signal SIGKILL"});
  EXPECT_NE(cap.text().find("[worker-0] done"), std::string::npos) << cap.text();
}

TEST(ProcessGroup, EveryExpendableChildLostFailsTheGroup) {
  Captured cap;
  ProcessGroup g(cap.options(500ms));
  g.start(sh("svc", "while :; do sleep 0.05; done", true));
  for (const char* name : {"worker-1", "worker-2"}) {
    ChildSpec c = sh(name, "sleep 30");
    c.expendable = true;
    g.start(c);
    ASSERT_TRUE(g.kill(name, SIGKILL));
  }
  EXPECT_EQ(g.wait_all(30s), ProcessGroup::kFailed);
  EXPECT_EQ(g.error(), "every worker was lost (worker-1, worker-2)");
}

TEST(ProcessGroup, ForwardsParentSignals) {
  // SIGINT to ourselves stands for the user's Ctrl-C: the children get it and wait_all reports
  // the interruption (130, as a shell would).
  Captured cap;
  {
    ProcessGroup g(cap.options());
    g.start(sh("svc", "trap 'echo got INT; exit 0' INT; echo up; while :; do sleep 0.05; done"));
    ASSERT_TRUE(g.wait_for([&] { return cap.text().find("[svc] up") != std::string::npos; }, 10s));
    ::kill(::getpid(), SIGINT);
    EXPECT_EQ(g.wait_all(20s), ProcessGroup::kInterrupted + SIGINT);
    EXPECT_EQ(g.error(), "interrupted by SIGINT");
  }
  EXPECT_NE(cap.text().find("[svc] got INT"), std::string::npos) << cap.text();
}

TEST(ProcessGroup, WaitForSeesAFailure) {
  Captured cap;
  ProcessGroup g(cap.options());
  g.start(sh("coordinator", "exit 5", true));
  EXPECT_FALSE(g.wait_for([] { return false; }, 10s));
  EXPECT_EQ(g.wait_all(10s), ProcessGroup::kFailed);
  EXPECT_NE(g.error().find("coordinator"), std::string::npos);
}

TEST(ProcessGroup, ExecFailureAndDuplicateNamesThrow) {
  Captured cap;
  ProcessGroup g(cap.options());
  EXPECT_THROW(g.start(ChildSpec{"ghost", {"/nonexistent/esync"}, {}, false}), Error);
  g.start(sh("a", "sleep 30"));
  EXPECT_THROW(g.start(sh("a", "true")), Error);
  // The destructor kills and reaps "a"; a leftover would keep this test's process busy.
}

TEST(ProcessGroup, DestructorKillsWhatRuns) {
  Captured cap;
  pid_t p = -1;
  const auto t0 = Clock::now();
  {
    ProcessGroup g(cap.options());
    p = g.start(sh("forever", "sleep 30"));
  }
  EXPECT_LT(seconds_since(t0), 5.0);
  EXPECT_NE(::kill(p, 0), 0) << "the child was reaped";
}

}  // namespace
}  // namespace esync::cli

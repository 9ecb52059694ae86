#pragma once
// A group of child processes on this host, run as one job (the engine of `esync run`).
//
// Every child's stdout and stderr go through one pipe; the parent prints each complete line on
// its own output prefixed with the child's name ("[worker-1]    loss 0.41"), one write() per
// line, so lines of different children interleave but are never torn. The group fails as a
// unit: the first child that exits non-zero or dies by a signal is named on one line, the rest
// get SIGTERM and, after a grace period, SIGKILL. "Daemon" children (coordinator, servers) are
// stopped the same way once every other child has exited, and their exit is no failure.
// "Expendable" children (the workers of a job that survives a lost worker) are the exception:
// the failure of one is named on one line as a loss and the others go on; the group fails only
// when every child that is not a daemon failed.
// SIGINT/SIGTERM sent to the parent are forwarded to every child. No child outlives the parent:
// each asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), and the destructor
// kills and reaps whatever still runs.
//
// Each child leads its own process group, so signals reach whatever it spawned (a shell's
// children included) and a terminal's Ctrl-C reaches the parent only, which forwards it once.
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace esync::cli {

struct ChildSpec {
  std::string name;               // "coordinator", "worker-0": the output prefix and in errors
  std::vector<std::string> argv;  // argv[0] is the program executed (a path, no PATH lookup)
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing in) ours
  bool daemon = false;                                   // serves the others; stopped when they are done
  bool expendable = false;                               // its failure is a loss, not the group's
  // An expendable child that fails is started again, at most this many times, with its argv
  // followed by restart_args (e.g. esync worker's --rejoin).
  int restarts = 0;
  std::vector<std::string> restart_args;
};

struct ProcessGroupOptions {
  int out_fd = STDOUT_FILENO;             // children's prefixed lines
  int err_fd = STDERR_FILENO;             // the group's own messages (failure, timeout, interrupt)
  std::chrono::milliseconds grace{3000};  // SIGTERM -> SIGKILL
  bool forward_signals = true;            // install SIGINT/SIGTERM handlers for the group's life
  std::string label = "esync run";        // prefix of the group's own messages
  // Called when an expendable child fails (name, the reason as in error(), whether it would be
  // started again), after its last output. True: a loss, the others go on; false: the group's
  // failure after all (the child was not expendable at this point of the job).
  std::function<bool(const std::string& name, const std::string& why, bool restarting)> on_lost;
  // A live status line (esync run's progress), asked for every second while wait_all runs. When
  // err_fd is a terminal it stays under the children's lines, redrawn in place; otherwise it is
  // printed as a plain line every status_plain_every.
  std::function<std::string()> status;
  std::chrono::milliseconds status_plain_every{10000};
};

class ProcessGroup {
 public:
  // Exit codes of wait_all besides 0 (the shell's conventions).
  static constexpr int kFailed = 1;
  static constexpr int kTimedOut = 124;
  static constexpr int kInterrupted = 128;  // + the signal number: 130 for SIGINT

  explicit ProcessGroup(ProcessGroupOptions opts = {});
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  // Forks and execs; returns the pid. Throws esync::Error when the program cannot be executed
  // (reported by the child through a close-on-exec pipe, so the error is synchronous) or when
  // the name is already taken.
  pid_t start(ChildSpec spec);

  // Prints output and watches the children until ready() is true (checked at least every
  // 100 ms) or the timeout passes; false on timeout or when a child has failed (the group is
  // then stopping: call wait_all for the exit code). For "wait until the port file exists".
  bool wait_for(const std::function<bool()>& ready, std::chrono::milliseconds timeout);

  // Runs until every child has exited (see the header comment); the timeout counts from now
  // and, when it passes, the group is stopped and the error says it timed out. Returns 0,
  // kFailed, kTimedOut or kInterrupted + signal.
  int wait_all(std::chrono::milliseconds timeout = std::chrono::hours(24));

  // The child's pid while it has not been reaped, else -1 (also for unknown names).
  pid_t pid(const std::string& name) const;
  // Sends sig to the child's process group (for fault-injection tests); false when the child
  // is unknown or already reaped.
  bool kill(const std::string& name, int sig);
  // The one-line reason of the last non-zero wait_all ("worker-1 (pid 42) failed: exit code 3").
  const std::string& error() const;
  // The expendable children lost so far, in order.
  std::vector<std::string> lost() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace esync::cli

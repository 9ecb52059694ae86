// ProcessGroup: fork/exec, one output pipe per child, a poll() loop that prints lines, reaps
// children and runs the stop sequence (SIGTERM, grace, SIGKILL). See process_group.hpp.
#include "cli/process_group.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <tuple>

#include "cli/process_io.hpp"
#include "esync/error.hpp"
#include "esync/progress.hpp"

extern char** environ;

namespace esync::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr std::size_t kMaxLine = 64 * 1024;  // longer "lines" are printed in pieces: bounded memory
using detail::Fd;
using detail::make_pipe;
using detail::signal_name;
using detail::SignalPipe;
using detail::write_all;

struct Child {
  std::string name;
  pid_t pid = -1;
  bool daemon = false;
  bool expendable = false;
  bool running = true;
  bool lost = false;  // an expendable child that failed
  Fd out;             // read end of the child's stdout+stderr pipe
  std::string buf;    // bytes after the last newline
  ChildSpec spec;     // how to start it again
  int restarts_done = 0;
  bool restart = false;  // failed, to be started again
};

// fork + exec of a child (its own process group, killed with us), its output on a pipe.
std::pair<pid_t, Fd> fork_exec(const ChildSpec& spec);

}  // namespace

struct ProcessGroup::Impl {
  enum class Stop { kNone, kDaemons, kFailure, kTimeout, kSignal, kDestroy };

  explicit Impl(ProcessGroupOptions o) : opts(std::move(o)), signals(opts.forward_signals) {}
  ~Impl() {
    // Whatever still runs is killed and reaped, bounded: a process stuck in the kernel (D state)
    // ignores even SIGKILL, and a destructor must not hang on it.
    stop = Stop::kDestroy;  // these exits are ours, not failures
    killed = true;
    signal_all(SIGKILL);
    const auto until = Clock::now() + milliseconds(2000);
    while (any_running() && Clock::now() < until) step(Clock::now() + milliseconds(20), false);
  }

  ProcessGroupOptions opts;
  SignalPipe signals;
  std::vector<Child> kids;
  std::size_t width = 0;
  Stop stop = Stop::kNone;
  Clock::time_point kill_at{};
  bool killed = false;
  int rc = 0;
  std::string error;

  bool any_running(bool daemons = true) const {
    return std::any_of(kids.begin(), kids.end(),
                       [&](const Child& c) { return c.running && (daemons || !c.daemon); });
  }
  std::string names_if(bool (*pick)(const Child&)) const {
    std::string names;
    for (const auto& c : kids)
      if (pick(c)) names += (names.empty() ? "" : ", ") + c.name;
    return names;
  }
  std::string running_names() const {
    return names_if([](const Child& c) { return c.running; });
  }
  std::string lost_names() const {
    return names_if([](const Child& c) { return c.lost; });
  }
  void message(const std::string& s) { above_status(opts.err_fd, opts.label + ": " + s + "\n"); }
  // The status line: on a terminal the last one drawn stays at the bottom; every other line is
  // written above it (the line cleared, the text written, the status drawn again).
  bool tty = false;
  std::string shown;
  Clock::time_point next_status{}, next_plain{};
  void above_status(int fd, const std::string& s) {
    if (!shown.empty()) write_all(opts.err_fd, kClearLine);
    write_all(fd, s);
    if (!shown.empty()) write_all(opts.err_fd, shown);
  }
  void tick(Clock::time_point now) {
    if (!opts.status || now < next_status) return;
    next_status = now + milliseconds(1000);
    const std::string text = opts.label + ": " + opts.status();
    if (tty) {
      shown = text;
      write_all(opts.err_fd, std::string(kClearLine) + shown);
    } else if (now >= next_plain) {
      next_plain = now + opts.status_plain_every;
      write_all(opts.out_fd, text + "\n");
    }
  }
  void clear_status() {
    if (!shown.empty()) write_all(opts.err_fd, kClearLine);
    shown.clear();
  }
  void signal_all(int sig) {
    for (const auto& c : kids)
      if (c.running && ::kill(-c.pid, sig) != 0) ::kill(c.pid, sig);
  }
  void begin_stop(Stop why, int code, int sig) {
    stop = why;
    rc = code;
    signal_all(sig);
    kill_at = Clock::now() + opts.grace;
  }

  void emit(const Child& c, std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string s = "[" + c.name + "]" + std::string(width - c.name.size() + 1, ' ');
    s.append(line).push_back('\n');
    above_status(opts.out_fd, s);  // one write per line: lines of different children never tear
  }
  // Reads what the pipe holds (all of it when draining a reaped child); prints complete lines.
  void read_output(Child& c, bool drain) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(c.out.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      const bool eof = n == 0 || (n < 0 && errno != EAGAIN);  // or a broken pipe: done with it
      if (n > 0) c.buf.append(buf, static_cast<std::size_t>(n));
      std::size_t begin = 0;
      for (std::size_t nl; (nl = c.buf.find('\n', begin)) != std::string::npos; begin = nl + 1)
        emit(c, std::string_view(c.buf).substr(begin, nl - begin));
      c.buf.erase(0, begin);
      if (c.buf.size() >= kMaxLine || (eof && !c.buf.empty())) {
        emit(c, c.buf);  // an over-long line, or the unterminated last one
        c.buf.clear();
      }
      if (eof) c.out.reset();
      if (eof || n < 0 || !drain) return;
    }
  }

  void reaped(Child& c, int status) {
    c.running = false;
    if (c.out.get() >= 0) read_output(c, true);  // its last words come before our verdict
    c.out.reset();  // a grandchild still holding the pipe must not keep us waiting
    // While stopping, exits are the ones we asked for; only the first failure is named.
    if (stop != Stop::kNone || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) return;
    std::string why = WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                        : "killed by signal " + signal_name(WTERMSIG(status));
    if (WIFSIGNALED(status) && WCOREDUMP(status)) why += " (core dumped)";
    const bool restart = c.restarts_done < c.spec.restarts;
    if (c.expendable && (!opts.on_lost || opts.on_lost(c.name, why, restart))) {
      c.restart = restart;
      c.lost = !c.restart;
      message(c.name + " (pid " + std::to_string(c.pid) + ") lost: " + why +
              (c.restart ? "; restarting it (" + std::to_string(c.restarts_done + 1) + " of " +
                               std::to_string(c.spec.restarts) + ")"
                         : "; the job goes on without it"));
      return;
    }
    error = c.name + " (pid " + std::to_string(c.pid) + ") failed: " + why;
    message(error);
    begin_stop(Stop::kFailure, kFailed, SIGTERM);
  }

  void on_parent_signal(int sig) {
    if (stop == Stop::kNone || stop == Stop::kDaemons) {
      error = "interrupted by " + signal_name(sig);
      message(error + "; stopping (again to kill at once)");
      begin_stop(Stop::kSignal, kInterrupted + sig, sig);  // the children see the same signal
    } else {
      kill_at = Clock::now();  // a second Ctrl-C: SIGKILL now
    }
  }

  // One round of the loop: wait (at most until `until`, 100 ms, or the SIGKILL time) for output
  // or a signal, print, reap. handle_signals is false in the destructor (nothing to forward).
  void step(Clock::time_point until, bool handle_signals = true) {
    std::vector<pollfd> fds{{signals.fd(), POLLIN, 0}};
    std::vector<Child*> owners{nullptr};
    for (auto& c : kids)
      if (c.out.get() >= 0) fds.push_back({c.out.get(), POLLIN, 0}), owners.push_back(&c);
    auto wake = std::min(until, Clock::now() + milliseconds(100));
    if (stop != Stop::kNone && !killed) wake = std::min(wake, kill_at);
    const auto ms = std::chrono::duration_cast<milliseconds>(wake - Clock::now()).count();
    if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(ms, 0) + 1)) > 0)
      for (std::size_t i = 1; i < fds.size(); ++i)
        if (fds[i].revents) read_output(*owners[i], false);
    for (const int sig : signals.drain())
      if (sig != SIGCHLD && handle_signals) on_parent_signal(sig);
    for (auto& c : kids) {
      if (!c.running) continue;
      int status = 0;
      const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
      if (r == c.pid || (r < 0 && errno == ECHILD)) reaped(c, status);  // ECHILD: reaped elsewhere
    }
    for (auto& c : kids) {
      if (!c.restart || stop != Stop::kNone) continue;
      c.restart = false;
      ++c.restarts_done;
      ChildSpec again = c.spec;
      again.argv.insert(again.argv.end(), again.restart_args.begin(), again.restart_args.end());
      try {
        auto [pid, out] = fork_exec(again);
        c.pid = pid, c.out = std::move(out), c.running = true;
      } catch (const Error& e) {
        c.lost = true;
        message(c.name + " could not be restarted: " + e.what());
      }
    }
  }
};

ProcessGroup::ProcessGroup(ProcessGroupOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
ProcessGroup::~ProcessGroup() = default;

namespace {

std::pair<pid_t, Fd> fork_exec(const ChildSpec& spec) {
  // Everything the child touches is built before fork(): between fork and exec only
  // async-signal-safe calls are allowed (another thread may hold the malloc lock).
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    const std::string_view kv(*e);
    const auto key = kv.substr(0, kv.find('='));
    if (std::none_of(spec.env.begin(), spec.env.end(), [&](const auto& p) { return p.first == key; }))
      env_store.emplace_back(kv);
  }
  for (const auto& [k, v] : spec.env) env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  auto [out_r, out_w] = make_pipe();
  auto [err_r, err_w] = make_pipe();  // exec failure report; closed by a successful exec
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  ESYNC_CHECK(pid >= 0, "fork for ", spec.name, ": ", std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    // SIGKILL when the parent (strictly: the forking thread) dies; if it died already, go.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const int s : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD}) ::signal(s, SIG_DFL);  // ignored stays ignored
    ::dup2(out_w.get(), STDOUT_FILENO);
    ::dup2(out_w.get(), STDERR_FILENO);
    if (const int null = ::open("/dev/null", O_RDONLY); null >= 0) ::dup2(null, STDIN_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    const int e = errno;
    [[maybe_unused]] auto n = ::write(err_w.get(), &e, sizeof e);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also in the parent: no window in which kill(-pid) misses the child
  out_w.reset();
  err_w.reset();
  int e = 0;
  pollfd pfd{err_r.get(), POLLIN, 0};
  if (::poll(&pfd, 1, 10000) > 0 && ::read(err_r.get(), &e, sizeof e) == sizeof e) {
    ::waitpid(pid, nullptr, 0);  // it _exits right after the report
    ESYNC_THROW(Error, "cannot execute ", spec.argv[0], " for ", spec.name, ": ", std::strerror(e));
  }
  ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
  return {pid, std::move(out_r)};
}

}  // namespace

pid_t ProcessGroup::start(ChildSpec spec) {
  auto& m = *impl_;
  ESYNC_CHECK(!spec.name.empty() && !spec.argv.empty(), "a child needs a name and a program");
  ESYNC_CHECK(pid(spec.name) < 0, "two children named ", spec.name);
  auto [pid, out] = fork_exec(spec);
  m.width = std::max(m.width, spec.name.size());
  Child c{spec.name, pid, spec.daemon, spec.expendable, true, false, std::move(out), {}};
  c.spec = std::move(spec);
  m.kids.push_back(std::move(c));
  return pid;
}

bool ProcessGroup::wait_for(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  const auto until = Clock::now() + timeout;
  for (;;) {
    if (m.stop != Impl::Stop::kNone || !m.any_running()) return false;
    if (ready()) return true;
    if (Clock::now() >= until) return false;
    m.step(until);
  }
}

int ProcessGroup::wait_all(std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  const auto deadline = Clock::now() + timeout;
  auto reap_until = Clock::time_point::max();
  m.tty = ::isatty(m.opts.err_fd) == 1;
  m.next_plain = Clock::now() + m.opts.status_plain_every;
  while (m.any_running()) {
    const auto now = Clock::now();
    if (m.stop == Impl::Stop::kNone) m.tick(now);
    if (m.stop == Impl::Stop::kNone && now >= deadline) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%g", static_cast<double>(timeout.count()) / 1000.0);
      m.error = std::string("timed out after ") + secs + " s (still running: " + m.running_names() + ")";
      m.message(m.error);
      m.begin_stop(Impl::Stop::kTimeout, kTimedOut, SIGTERM);
    } else if (m.stop == Impl::Stop::kNone && !m.any_running(false)) {
      // The workers are done: stop the services. Lost workers fail the job only when no worker
      // was left to finish it.
      const bool none_left =
          std::all_of(m.kids.begin(), m.kids.end(), [](const Child& c) { return c.daemon || c.lost; });
      if (none_left && std::any_of(m.kids.begin(), m.kids.end(), [](const Child& c) { return c.lost; })) {
        m.error = "every worker was lost (" + m.lost_names() + ")";
        m.message(m.error);
        m.begin_stop(Impl::Stop::kFailure, kFailed, SIGTERM);
      } else {
        m.begin_stop(Impl::Stop::kDaemons, 0, SIGTERM);
      }
    } else if (m.stop != Impl::Stop::kNone && !m.killed && now >= m.kill_at) {
      m.message("sending SIGKILL to " + m.running_names() + " (still running " +
                std::to_string(m.opts.grace.count()) + " ms after the stop signal)");
      m.signal_all(SIGKILL);
      m.killed = true;
      reap_until = now + milliseconds(5000);
    } else if (now >= reap_until) {
      m.message("some children survive SIGKILL (stuck in the kernel?); giving up on them");
      m.clear_status();
      return m.rc != 0 ? m.rc : kFailed;
    }
    m.step(m.stop == Impl::Stop::kNone ? deadline : m.killed ? reap_until : m.kill_at);
  }
  m.clear_status();
  return m.rc;
}

pid_t ProcessGroup::pid(const std::string& name) const {
  for (const auto& c : impl_->kids)
    if (c.name == name && c.running) return c.pid;
  return -1;
}

bool ProcessGroup::kill(const std::string& name, int sig) {
  const pid_t p = pid(name);
  return p > 0 && (::kill(-p, sig) == 0 || ::kill(p, sig) == 0);
}

const std::string& ProcessGroup::error() const { return impl_->error; }

std::vector<std::string> ProcessGroup::lost() const {
  std::vector<std::string> out;
  for (const auto& c : impl_->kids)
    if (c.lost) out.push_back(c.name);
  return out;
}

}  // namespace esync::cli

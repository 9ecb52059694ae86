// See process_io.hpp.
#include "cli/process_io.hpp"

#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "esync/error.hpp"

namespace esync::cli::detail {

std::pair<Fd, Fd> make_pipe() {
  int p[2];
  ESYNC_CHECK(::pipe2(p, O_CLOEXEC) == 0, "pipe: ", std::strerror(errno));
  return {Fd(p[0]), Fd(p[1])};
}

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // our own output is gone: nothing better to do than keep supervising
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

namespace {

std::atomic<int> g_signal_fd{-1};

extern "C" void on_signal(int sig) {
  const int saved = errno;
  const int fd = g_signal_fd.load();
  const auto b = static_cast<unsigned char>(sig);
  if (fd >= 0) {
    [[maybe_unused]] const ssize_t n = ::write(fd, &b, 1);  // a full pipe: a wake-up is pending anyway
  }
  errno = saved;
}

}  // namespace

SignalPipe::SignalPipe(bool forward) {
  std::tie(r_, w_) = make_pipe();
  ::fcntl(r_.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(w_.get(), F_SETFL, O_NONBLOCK);  // a full pipe drops bytes instead of blocking
  prev_fd_ = g_signal_fd.exchange(w_.get());
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  for (std::size_t i = 0; i < kSignals.size(); ++i)
    installed_[i] = (forward || kSignals[i] == SIGCHLD) && ::sigaction(kSignals[i], &sa, &old_[i]) == 0;
}

SignalPipe::~SignalPipe() {
  for (std::size_t i = 0; i < kSignals.size(); ++i)
    if (installed_[i]) ::sigaction(kSignals[i], &old_[i], nullptr);
  g_signal_fd.store(prev_fd_);
}

std::vector<int> SignalPipe::drain() {
  std::vector<int> out;
  unsigned char buf[64];
  for (ssize_t n; (n = ::read(r_.get(), buf, sizeof buf)) > 0;) out.insert(out.end(), buf, buf + n);
  return out;
}

}  // namespace esync::cli::detail

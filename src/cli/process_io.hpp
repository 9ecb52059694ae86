#pragma once
// The POSIX plumbing under ProcessGroup: an owning file descriptor, close-on-exec pipes, a
// write that survives EINTR, and the signal self-pipe (the handler writes the signal number
// into a non-blocking pipe, so poll() wakes at once and everything else happens outside signal
// context).
#include <unistd.h>

#include <array>
#include <csignal>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace esync::cli::detail {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

std::pair<Fd, Fd> make_pipe();               // {read end, write end}, both close-on-exec
void write_all(int fd, std::string_view s);  // gives up quietly when the output is gone
std::string signal_name(int sig);            // "SIGTERM"

// RAII installation of the handlers; the previous ones (and self-pipe) come back on destruction,
// so groups may nest. SIGCHLD is always caught (prompt reaping); SIGINT/SIGTERM when forwarding.
class SignalPipe {
 public:
  explicit SignalPipe(bool forward);
  ~SignalPipe();
  SignalPipe(const SignalPipe&) = delete;
  SignalPipe& operator=(const SignalPipe&) = delete;
  int fd() const { return r_.get(); }
  std::vector<int> drain();  // the signals received since the last call

 private:
  static constexpr std::array<int, 3> kSignals{SIGINT, SIGTERM, SIGCHLD};
  Fd r_, w_;
  int prev_fd_ = -1;
  std::array<struct sigaction, 3> old_{};
  std::array<bool, 3> installed_{};
};

}  // namespace esync::cli::detail

#include "metrics_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "esync/error.hpp"

namespace esync::coord {

MetricsHttp::MetricsHttp(const std::string& bind, int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ESYNC_CHECK_T(IoError, fd_ >= 0, "metrics listener: socket: ", std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const std::string host = bind == "*" ? "0.0.0.0" : bind;
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    ::close(fd_);
    ESYNC_THROW(ConfigError, "metrics listener: '", host, "' is not an IPv4 address (--bind)");
  }
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd_);
    ESYNC_THROW(IoError, "metrics listener: cannot listen on ", host, ":", port, ": ", why);
  }
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { serve(); });
}

MetricsHttp::~MetricsHttp() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

void MetricsHttp::set(std::string text) {
  std::lock_guard<std::mutex> lk(mu_);
  text_ = std::move(text);
}

void MetricsHttp::serve() {
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0) {  // out of descriptors, say: try again later rather than spin
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    answer(client);
    ::close(client);
  }
}

// Waits until fd is ready for `events`; false once the scrape's deadline passed (or the listener stops).
bool MetricsHttp::ready(int fd, short events, std::chrono::steady_clock::time_point deadline) const {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count();
    if (left <= 0 || stop_.load()) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 200)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

void MetricsHttp::answer(int client) {
  // The whole scrape, request and answer, within 2 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::string request;
  char buf[1024];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192 &&
         ready(client, POLLIN, deadline)) {
    const ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n <= 0) break;
    request.append(buf, static_cast<std::size_t>(n));
  }
  const bool metrics = request.rfind("GET /metrics ", 0) == 0 || request.rfind("GET /metrics?", 0) == 0 ||
                       request.rfind("GET / ", 0) == 0;
  std::string body;
  if (metrics) {
    std::lock_guard<std::mutex> lk(mu_);
    body = text_;
  } else {
    body = "esync state server: metrics at /metrics\n";
  }
  const std::string head = std::string(metrics ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.0 404 Not Found\r\n") +
                           "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                           "Content-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  const std::string out = head + body;
  for (std::size_t sent = 0; sent < out.size() && ready(client, POLLOUT, deadline);) {
    const ssize_t n = ::send(client, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return;
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
}

}  // namespace esync::coord

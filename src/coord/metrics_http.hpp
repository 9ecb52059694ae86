#pragma once
// A minimal HTTP/1.0 listener for Prometheus: GET /metrics answers the text its owner last set
// (the exposition format), anything else 404. It runs on a thread of its own and answers one
// scrape at a time, each bounded by 2 s, so a slow or stuck scraper never holds up its owner (the
// state server's loop only swaps the text in).
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

namespace esync::coord {

class MetricsHttp {
 public:
  // Listens on bind:port (port 0: a free one); IoError naming the address when it cannot.
  MetricsHttp(const std::string& bind, int port);
  ~MetricsHttp();
  int port() const { return port_; }
  void set(std::string text);

 private:
  void serve();
  void answer(int client);
  bool ready(int fd, short events, std::chrono::steady_clock::time_point deadline) const;
  int fd_ = -1, port_ = 0;
  std::mutex mu_;
  std::string text_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace esync::coord

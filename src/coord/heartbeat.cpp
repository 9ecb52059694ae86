#include "esync/heartbeat.hpp"

#include <cstdio>

#include "esync/coord_client.hpp"

namespace esync::coord {

Heartbeat::Heartbeat(const std::string& endpoint, const std::string& token, int rank, std::uint64_t job_id,
                     std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
  thread_ = std::thread([=, this] {
    CoordinatorClient c(endpoint, token, timeout);
    c.attach(rank, job_id);
    std::unique_lock<std::mutex> lk(mu_);
    while (!cv_.wait_for(lk, interval, [this] { return stop_; })) {
      lk.unlock();
      try {
        c.heartbeat();
      } catch (const std::exception& e) {
        lk.lock();
        error_ = e.what();
        lost_ = true;
        std::fprintf(stderr, "worker %d: %s\n", rank, e.what());
        return;
      }
      lk.lock();
    }
  });
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::string Heartbeat::error() const {
  std::lock_guard<std::mutex> lk(mu_);
  return error_;
}

}  // namespace esync::coord

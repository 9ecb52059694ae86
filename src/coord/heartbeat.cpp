#include "esync/heartbeat.hpp"

#include <cstdio>

#include "esync/coord_client.hpp"

namespace esync::coord {

Heartbeat::Heartbeat(const std::string& endpoint, const std::string& token, int rank, std::uint64_t job_id,
                     std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
  thread_ = std::thread([=, this] {
    // Any failure, the attach included (it is a round trip too), means the coordinator is lost
    // to this worker: recorded, never thrown out of the thread.
    const auto fail = [&](const std::string& what) {
      std::lock_guard<std::mutex> lk(mu_);
      error_ = what;
      lost_ = true;
      std::fprintf(stderr, "worker %d: %s\n", rank, what.c_str());
    };
    try {
      CoordinatorClient c(endpoint, token, timeout);
      c.attach(rank, job_id);
      std::unique_lock<std::mutex> lk(mu_);
      while (!cv_.wait_for(lk, interval, [this] { return stop_; })) {
        const nlohmann::json status = status_;
        lk.unlock();
        joining_ = c.heartbeat(status);
        lk.lock();
      }
    } catch (const std::exception& e) {
      fail(e.what());
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

void Heartbeat::report(nlohmann::json status) const {
  std::lock_guard<std::mutex> lk(mu_);
  status_ = std::move(status);
}

std::string Heartbeat::error() const {
  std::lock_guard<std::mutex> lk(mu_);
  return error_;
}

}  // namespace esync::coord

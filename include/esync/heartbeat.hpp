#pragma once
// Heartbeats from a worker to the state server on a thread and a connection of their own, so a
// worker busy computing (or blocked in an allreduce) is still known to be alive, and a worker
// learns within the timeout when the coordinator is gone.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace esync::coord {

class Heartbeat {
 public:
  Heartbeat(const std::string& endpoint, const std::string& token, int rank, std::uint64_t job_id,
            std::chrono::milliseconds interval, std::chrono::milliseconds timeout);
  ~Heartbeat();
  bool coordinator_lost() const { return lost_.load(); }
  // The last beat's news: the regroup generation a rejoining worker waits for (0: none).
  std::int64_t joining() const { return joining_.load(); }
  std::string error() const;
  // What the next beats carry to the state server (its metrics): the worker's round, samples,
  // step time, ... as the training loop last set them (once a round: a copy under a lock).
  void report(nlohmann::json status) const;

 private:
  std::atomic<bool> lost_{false};
  std::atomic<std::int64_t> joining_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string error_;
  mutable nlohmann::json status_ = nlohmann::json::object();
  std::thread thread_;
};

}  // namespace esync::coord

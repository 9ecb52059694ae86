#pragma once
// The state server (`esync coordinator`): a ZeroMQ ROUTER that registers workers with the job
// token, hands each its rank and the job configuration, serves key-value rendezvous (gloo's
// store, the NCCL unique id), tracks heartbeats, and assigns every worker its number of local
// iterations per round (policies in assignment.hpp). Malformed messages are counted, logged
// with their peer and dropped; they never stop the loop.
#include <atomic>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "esync/assignment.hpp"
#include "esync/curve.hpp"
#include "esync/job_config.hpp"

namespace esync::coord {

struct CoordinatorConfig {
  std::string bind = "127.0.0.1";
  int port = 0;     // 0: a free port, see Coordinator::port()
  int workers = 1;  // the job starts when these have registered
  int max_workers =
      0;  // elastic capacity: more may join a running PS job (0: the job's "max_workers", else workers)
  std::string token;  // empty: generated
  std::uint64_t job_id = 1;
  JobConfig job;  // sent to every worker and shard on registration; its policy, k_base, k_max set K
  double heartbeat_timeout_s = 10.0;
  std::string log_dir;    // coordinator-0.jsonl when set
  bool status = true;     // periodic one-line status per worker on stderr
  wire::CurveKeys curve;  // on: a CURVE server with the job's secret (esync coordinator: from the env)
  // Prometheus metrics over HTTP on bind:metrics_port (0: a free port, written to
  // LOGDIR/metrics.port); -1: none.
  int metrics_port = -1;
};

struct CoordinatorStats {
  std::uint64_t messages = 0, malformed = 0, rejected = 0, registered = 0, lost = 0;
};

class Coordinator {
 public:
  explicit Coordinator(CoordinatorConfig cfg);
  ~Coordinator();
  int port() const;
  const std::string& token() const;
  // Serves until every registered worker has said goodbye (or died), or stop becomes true.
  void run(const std::atomic<bool>& stop);
  // Safe to call from another thread while run() serves: a copy published after every message.
  CoordinatorStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace esync::coord

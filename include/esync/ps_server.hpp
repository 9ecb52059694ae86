#pragma once
// A parameter-server shard (`esync server --shard I`): one thread, one ZeroMQ ROUTER socket,
// the update rules of ps_rules.hpp on its contiguous range of the flat buffer.
//
// Protocol (worker -> shard, each answered exactly once, sync pushes when their round closes):
//   kRegister {token, rank}          -> kAck | kReject        (every connection, constant-time compare)
//   kPush {init, n} + slice          -> kAck                  (rank 0, once: the initial weights)
//   kPull {}                         -> kPullReply {version, samples, stop} + slice (after init)
//   kPull {join: V}                  -> kPullReply {joined, version = V, ...} + slice, once this shard
//                                       is at version V (elastic join; the worker is then live);
//                                       kPullReply {late, version} without a slice if it is past V
//   kPush {samples, stop} + x slice  -> kPullReply {version, staleness, wait_s, samples, stop} + slice
//        (header.round = the version x was computed on: push and pull are one round trip)
//   kShutdown {status}               -> kAck                  (the worker leaves)
//   a push's body may carry {checkpoint: R}: the shard writes round R's checkpoint once it has
//   applied that push (sync rules: when its round closes)
// Replies send the weight snapshot zero-copy. A sync round that some live worker has not joined
// within the timeout drops that worker (logged as lost, its later pushes refused) and completes
// with the rest, so one dead worker never stalls the job. Malformed messages are counted, logged
// with their peer and dropped.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "esync/curve.hpp"
#include "esync/job_config.hpp"
#include "esync/ps_rules.hpp"

namespace esync::ps {

struct ShardConfig {
  int shard = 0, shards = 1;
  std::string bind = "127.0.0.1";
  int port = 0;  // 0: a free port
  RuleConfig rule;
  std::string token;
  std::uint64_t job_id = 1;
  std::chrono::milliseconds timeout{60000};  // a sync round's wait for its last worker; idleness
  std::string log_dir;                       // server-<shard>.jsonl when set
  double log_every_s = 1.0;                  // periodic version/staleness statistics
  // Frames larger than this (bytes) disconnect their sender: the model slice plus room for the
  // body, when the server knows the model's size (a job); <= 0: unbounded (tests).
  std::int64_t max_frame_bytes = 0;
  bool abort_on_failure = false;  // a lost worker stops the shard (--on-failure abort)
  // Checkpoints (job_checkpoint.hpp): written into checkpoint_dir when rank 0's push asks for
  // one; resume_file, when set, is this shard's state to start from instead of rank 0's init.
  std::string checkpoint_dir, resume_file;
  nlohmann::json job = nlohmann::json::object();  // the job configuration, stored in checkpoints
  wire::CurveKeys curve;                          // on: a CURVE server with the job's secret key
};

struct ShardStats {
  std::uint64_t messages = 0, malformed = 0, rejected = 0, pushes = 0, pulls = 0, lost = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0, version = 0;
  double staleness_sum = 0;
  std::int64_t staleness_max = 0;
};

class ShardServer {
 public:
  explicit ShardServer(ShardConfig cfg);
  ~ShardServer();
  std::string endpoint() const;  // tcp://ADDR:PORT to hand to workers
  // Serves until every worker has left (or was dropped) after the weights were set, stop is
  // set, or nothing arrives for the timeout while workers are live (TimeoutError).
  void run(const std::atomic<bool>& stop);
  // Safe to call from another thread while run() serves: a copy published after every message
  // (version included).
  ShardStats stats() const;
  // The state server declared worker `rank` lost (its heartbeats stopped): run() drops it within
  // one turn of its loop, as if it had stalled a round for the wait timeout. Thread-safe.
  void worker_lost(int rank);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The `esync server` process: registers with the coordinator as shard I, takes the job's mode
// and optimiser from it, publishes its endpoint under "ps/<I>" and serves.
struct ServerOptions {
  std::string coordinator, token, bind = "127.0.0.1";
  int shard = 0;
  double timeout_s = 60;
  // The job's CURVE keys (esync server: from the environment): a client of the coordinator with
  // the public key, a CURVE server to the workers with the secret one.
  wire::CurveKeys curve;
};
int run_server(const ServerOptions& opt, const std::atomic<bool>& stop);
// The shard's rule and optimiser from a job configuration (mode, lr, optimizer, flags).
RuleConfig rule_config(const JobConfig& job, int workers);

}  // namespace esync::ps

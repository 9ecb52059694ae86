#pragma once
// The shard's state and handlers, shared by server.cpp (set-up, pushes, pulls, rounds, logs) and
// server_membership.cpp (elastic joins, leaving, lost workers, the timeouts). Private to src/ps.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "esync/job_checkpoint.hpp"
#include "esync/jsonl_log.hpp"
#include "esync/log_events.hpp"
#include "esync/message.hpp"
#include "esync/ps_server.hpp"

namespace esync::ps {

using nlohmann::json;
using wire::MsgType;

struct ShardServer::Impl {
  struct Waiting {
    std::string identity;
    int rank;
    double since;
    std::int64_t staleness;
    std::uint64_t join_at = 0;  // joins: the version the worker becomes live at
  };
  ShardConfig cfg;
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::router};
  std::string endpoint;
  ShardStats stats;
  // What stats() returns: a copy published by run() after every message, so another thread
  // (a test waiting for the counters) can read it while run() serves.
  mutable std::mutex stats_mu;
  ShardStats published;
  JsonlLog log;
  std::unique_ptr<ShardRules> rules;
  std::size_t total_n = 0;
  std::map<std::string, int> peers;  // authenticated routing id -> rank
  std::vector<Waiting> waiting;      // sync pushes of the open round
  std::vector<Waiting> early_pulls;  // pulls that arrived before the weights
  std::vector<Waiting> joins;        // elastic joins parked until their version
  double round_open = 0, last_msg = 0, last_log = 0;
  bool stop_flag = false;
  std::map<std::int64_t, std::uint64_t> staleness_hist;
  std::map<int, double> heard;  // rank -> when its last message arrived
  std::vector<float> aligned;   // scratch for a frame whose floats are not 4-byte aligned
  std::mutex lost_mu;
  std::vector<int> lost_by_coordinator;  // worker_lost() from another thread; drained by housekeeping
  std::uint64_t checkpoint_due = 0;      // a round rank 0 asked to checkpoint, once its push is applied
  ckpt::BackgroundWriter writer{"server-" + std::to_string(cfg.shard) + ".ckpt"};

  explicit Impl(ShardConfig c);
  // This shard's state from the checkpoint instead of rank 0's initial weights.
  void resume();
  void write_checkpoint();
  void reply(const std::string& identity, int rank, MsgType type, json body = json::object());
  // The current weights, zero-copy: the frame holds a reference to the snapshot until ZeroMQ
  // has sent it, and the rules copy-on-write while it does.
  void send_weights(const std::string& identity, int rank, json body);
  const float* floats(const zmq::message_t& frame);
  const zmq::message_t& one_slice(const wire::Message& m, std::size_t want);
  void on_init(const wire::Message& m, int rank);
  void on_push(const wire::Message& m, int rank);
  void close_round();
  // Elastic join. The worker names the version it joins at: one past the highest it saw on any
  // shard, so every shard adds it at the same round boundary (shards close a round at slightly
  // different times, and a worker live in different rounds on different shards would mix
  // versions). A join is parked until this shard reaches that version, then answered with those
  // weights; the worker's first push belongs to that round. A shard already past it (two rounds
  // went by during the worker's round trip) answers "late"; the worker leaves the shards that
  // took it and tries again. The asynchronous rules have no rounds: they add the worker at once.
  void on_join(const wire::Message& m, int rank);
  void admit(const std::string& identity, int rank);
  void admit_due();
  void leave(int rank, const std::string& why);
  void handle(const wire::Message& m);
  void serve(const wire::Message& m, int rank);
  // A worker is gone: logged and counted; with --on-failure abort the shard stops here, naming
  // it (its launcher then stops the job), else the caller drops it and the job goes on.
  void lose(int r, double silent_s, const std::string& what);
  void housekeeping();
  void publish();
  void write_stats(double now);  // the "ps" event
};

}  // namespace esync::ps

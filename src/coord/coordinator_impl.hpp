#pragma once
// The state server's state and handlers, shared by coordinator.cpp (the loop, key-value store,
// rounds, heartbeats), coordinator_registration.cpp (workers, attached connections, shards),
// coordinator_regroup.cpp and coordinator_metrics.cpp.
// Private to src/coord.
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "esync/assignment.hpp"
#include "esync/coordinator.hpp"
#include "esync/jsonl_log.hpp"
#include "esync/log_events.hpp"
#include "esync/message.hpp"
#include "metrics_http.hpp"

namespace esync::coord {

using nlohmann::json;
using wire::MsgType;

struct Member {
  std::string identity, device, host, state = "registered";
  std::vector<std::string> attached;  // further connections that showed the token for this rank
  double last_seen = 0, step_s = 0;
  nlohmann::json status = nlohmann::json::object();  // the worker's last heartbeat report (metrics)
  int k = 0;
  bool alive = true, done = false;
  // A lost rank registered again (a restarted worker): `rejoined` until a regroup answer names
  // it; `joining` once it reported, ready, so the group admits it at its next round boundary.
  bool rejoined = false, joining = false;
};

struct Waiter {
  std::string identity, key;
  std::uint32_t rank;
  double deadline;
  std::int64_t id = -1;  // the request's "id", echoed in the answer (kv_poll tells its answers apart)
};

struct Coordinator::Impl {
  CoordinatorConfig cfg;
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::router};
  int port = 0;
  std::vector<Member> members;
  std::map<std::string, std::string> kv;
  std::map<std::string, int> servers;  // routing id -> shard
  std::vector<Waiter> waiters;
  std::set<std::string> regroups;    // allreduce regroup generations still waiting for survivors
  std::int64_t regroups_closed = 0;  // the last regroup generation answered
  std::unique_ptr<AssignPolicy> assign;
  DeadlinePlanner deadline;  // policy deadline: the pacer and T, once per round
  std::unique_ptr<PollPolicy> poll;
  CoordinatorStats stats;
  // What stats() returns: a copy published by run() after every message, so another thread
  // (a test waiting for the counters, a status reader) can read it while run() serves.
  mutable std::mutex stats_mu;
  CoordinatorStats published;
  JsonlLog log;
  double last_status = 0;
  // --metrics-port: the Prometheus listener (coordinator_metrics.cpp), its text renewed every second.
  std::unique_ptr<MetricsHttp> metrics;
  double last_metrics = 0;
  double first_report = 0;  // when a worker's heartbeat first reported a round (training began)
  void start_metrics();
  std::string metrics_text() const;

  explicit Impl(CoordinatorConfig c);
  void reply(const std::string& identity, MsgType type, std::uint32_t rank, std::uint64_t round,
             json body = json::object());
  Member* member(const wire::Message& m);
  void on_register(const wire::Message& m);
  // A registered worker's further connection (its heartbeat), token checked by the caller.
  void on_attach(const wire::Message& m);
  // A parameter-server shard: no worker rank; it takes the job configuration and uses the
  // key-value store (to publish its endpoint).
  void on_register_server(const wire::Message& m);
  void answer_waiters(const std::string& key);
  // An allreduce group re-forming (coordinator_regroup.cpp): a survivor's "regroup/<g>/<rank>"
  // report, and closing every generation whose live workers have all reported.
  void on_regroup_key(const std::string& key, std::uint32_t sender);
  void close_regroups();
  // The regroup generation a ready rejoining worker waits for (0: none): told in heartbeat and
  // round-plan replies, so the group votes to regroup at its next synchronisation.
  std::int64_t joining_generation() const;
  void handle(const wire::Message& m);
  void housekeeping();
  bool finished() const;
};

}  // namespace esync::coord

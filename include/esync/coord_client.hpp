#pragma once
// A worker's connection to the state server: one DEALER socket, request/reply, every wait
// bounded by a timeout whose error names what was awaited and from where.
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "esync/curve.hpp"

namespace esync::coord {

struct Welcome {
  int rank = 0;
  int world = 1;
  std::string policy;
  nlohmann::json job;
  // A lost rank registered again: the regroup generation it reports to (train/regroup.hpp).
  std::optional<int> rejoin_generation;
};

class CoordinatorClient {
 public:
  // endpoint: "HOST:PORT" or "tcp://HOST:PORT". curve: the job's CURVE public key (off: plain
  // TCP); by default from ESYNC_CURVE_SERVER, so every caller of a CURVE job gets it unasked.
  CoordinatorClient(const std::string& endpoint, std::string token, std::chrono::milliseconds timeout,
                    const wire::CurveKeys& curve = wire::curve_keys_from_env());
  ~CoordinatorClient();
  // Registers (rank -1: any free rank); throws ConfigError if the coordinator rejects us.
  Welcome register_worker(const std::string& device, const std::string& host, int rank = -1);
  // A parameter-server shard joins: the job configuration, no worker rank.
  Welcome register_server(int shard, const std::string& host);
  void kv_set(const std::string& key, const std::string& value);
  // TimeoutError if absent after `wait`, or no reply within wait + slack (-1: the client's timeout).
  std::string kv_get(const std::string& key, std::chrono::milliseconds wait,
                     std::chrono::milliseconds slack = std::chrono::milliseconds(-1));
  // The key's value once it exists, or nullopt if it did not appear within `wait`; TimeoutError
  // when the coordinator does not answer within wait + slack. A late answer to an earlier poll is
  // recognised by the id the coordinator echoes and skipped. For a thread that watches a key (a
  // shard: "lost/<n>").
  std::optional<std::string> kv_poll(const std::string& key, std::chrono::milliseconds wait,
                                     std::chrono::milliseconds slack);
  // Assign and deadline policies: report the round just finished (k_done steps, mean device
  // step time) and receive the plan for the next one.
  struct RoundPlan {
    int k = 1;
    double deadline_s = 0;     // deadline policy: the round's length T; 0 = do exactly k (the pacer)
    double share = 1;          // this worker's part of the job's steps per second
    std::int64_t joining = 0;  // a rejoining worker waits to be admitted (see joining_seen)
  };
  RoundPlan report_plan(std::uint64_t round, int k_done, double step_s);
  // The same report sent ahead, without waiting: report_plan(round, ...) then reads the reply
  // (already here, usually), so the round trip overlaps whatever the worker does in between.
  // Any other call first reads and drops a reply still owed.
  void report_ahead(std::uint64_t round, int k_done, double step_s);
  int report(std::uint64_t round, int k_done, double step_s) { return report_plan(round, k_done, step_s).k; }
  // Poll policy: announce the round's first step, then ask after every step.
  void poll_start(std::uint64_t round);
  bool poll_ready(std::uint64_t round, double step_s);
  // The regroup generation a rejoining worker waits for to be admitted to the allreduce group (0:
  // none); a member that has not been through that generation votes to regroup.
  std::int64_t heartbeat(const nlohmann::json& status = nlohmann::json::object());
  // The same news from the last round plan (ESync's per-round report): the group learns of a
  // rejoining worker within a round.
  std::int64_t joining_seen() const;
  // Speak as an already registered rank (a second connection, e.g. for heartbeats).
  void attach(int rank, std::uint64_t job_id);
  std::uint64_t job_id() const;
  void goodbye(const std::string& status);
  const std::string& endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace esync::coord

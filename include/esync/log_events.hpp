#pragma once
// The event log's schema: one struct per event and writer. The processes that write the logs
// (JsonlLog::write(event)) and the summariser that reads them (logev::read) share these
// structs, so an event's name and keys are spelt once. docs/DESIGN.md ("The log schema") says
// what each key means and who reads it.
// An empty std::optional member is not written (an eval's `acc` on a regression, an assign's
// `deadline_s` under the assign policy); reading is tolerant (log_event_keys.hpp).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "esync/log_event_keys.hpp"

namespace esync::logev {

// ---- every process ------------------------------------------------------------------------

// The last line of a process that failed (workers, shards, esync local).
struct ErrorEnd {
  static constexpr const char* kName = "end";
  std::string status, error;  // status "error"
};
ESYNC_EVENT_KEYS(ErrorEnd, status, error)

// A test-set evaluation (rank 0's evaluator, esync local). rel_gap = gap / (F0 - f*), F0 the
// first evaluation's loss; gap and rel_gap only on datasets with a known optimum f*.
struct Eval {
  static constexpr const char* kName = "eval";
  std::int64_t round = 0;  // workers: the round synchronised last; local: steps done
  double epoch = 0, samples_seen = 0, wall_s = 0, loss = 0;
  std::optional<double> acc, gap, rel_gap;
};
ESYNC_EVENT_KEYS(Eval, round, epoch, samples_seen, wall_s, loss, acc, gap, rel_gap)

// Every log_every steps. k: steps done in this round (local: in the run); samples: this
// process's running total.
// lr: the scheduled rate of this step's update (made by the shards in the parameter server's
// gradient modes, on the same schedule of the job's samples).
struct Step {
  static constexpr const char* kName = "step";
  std::int64_t round = 0, k = 0;
  double loss = 0, samples = 0, compute_s = 0, injected_s = 0, lr = 0;
};
ESYNC_EVENT_KEYS(Step, round, k, loss, samples, compute_s, injected_s, lr)

// ---- workers ------------------------------------------------------------------------------

// batch, threads: this worker's own (per-device settings), config: the whole JobConfig.
struct WorkerStart {
  static constexpr const char* kName = "start";
  int rank = 0, world = 0;
  std::string host, device, mode, bind;
  std::int64_t batch = 0;
  int threads = 0;
  json config;
  std::int64_t pid = 0;  // the worker's process, for whoever has to find it on its host
};
ESYNC_EVENT_KEYS(WorkerStart, rank, world, host, device, mode, bind, batch, threads, config, pid)

// Once a round. injected_s = slowdown_s + delay_s; staleness: PS versions applied since the
// weights this worker computed on (0 for the allreduce modes); samples: this round's.
struct Sync {
  static constexpr const char* kName = "sync";
  std::int64_t round = 0, k_done = 0, k_assigned = 0;
  double compute_s = 0, comm_s = 0, wait_s = 0, hidden_s = 0, slowdown_s = 0, delay_s = 0, injected_s = 0;
  std::int64_t bytes_sent = 0, bytes_recv = 0;
  double samples = 0;
  std::optional<std::int64_t> staleness;
};
ESYNC_EVENT_KEYS(Sync, round, k_done, k_assigned, compute_s, comm_s, wait_s, hidden_s, slowdown_s, delay_s,
                 injected_s, bytes_sent, bytes_recv, staleness, samples)

// A worker's totals, in its "end" event.
struct WorkerSummary {
  int rank = 0;
  std::string mode, backend;
  std::int64_t steps = 0, samples = 0;
  double t0_unix = 0, wall_s = 0;
  std::optional<double> train_wall_s, samples_per_s;
  double compute_s = 0, injected_s = 0, delay_s = 0, comm_s = 0, wait_s = 0, hidden_s = 0;
  std::int64_t bytes_sent = 0, bytes_recv = 0;
  // How the synchroniser reached the model (sync_staging.hpp): "none" (the model's own host
  // memory), "pinned" (page-locked copies of a GPU model), "host" (copies forced on a CPU);
  // staging_s: the seconds those copies took.
  std::string staging = "none";
  double staging_s = 0;
  json final = json::object();  // rank 0's last eval's keys; {} elsewhere
  // The final model for PyTorch (train/export.hpp), written by whoever evaluated it.
  std::optional<std::string> model;
};
ESYNC_EVENT_KEYS(WorkerSummary, rank, mode, backend, steps, samples, t0_unix, wall_s, train_wall_s,
                 samples_per_s, compute_s, injected_s, delay_s, comm_s, wait_s, hidden_s, bytes_sent,
                 bytes_recv, staging, staging_s, final, model)

struct WorkerEnd {
  static constexpr const char* kName = "end";
  std::string status;  // "ok" (or "error" with error)
  std::optional<WorkerSummary> summary;
  std::string error;  // status "error"
};
ESYNC_EVENT_KEYS(WorkerEnd, status, summary, error)

// An elastic joiner: the PS version it joined at and its first round.
struct WorkerJoin {
  static constexpr const char* kName = "join";
  int rank = 0;
  std::int64_t version = 0, round = 0;
};
ESYNC_EVENT_KEYS(WorkerJoin, rank, version, round)

// The allreduce group broke and re-formed (train/regroup.hpp): generation g, its members (job
// ranks), the job rank whose model everyone took and the round it had completed (the loop goes
// on at round + 1), and the seconds from the failure to the model taken.
struct WorkerRegroup {
  static constexpr const char* kName = "regroup";
  std::int64_t generation = 0, round = -1;
  json members = json::array();
  int source = 0;
  double seconds = 0;
  std::string why;  // the collective's error
};
ESYNC_EVENT_KEYS(WorkerRegroup, generation, round, members, source, seconds, why)

// ---- parameter-server shards --------------------------------------------------------------

struct ServerStart {
  static constexpr const char* kName = "start";
  std::string role = "server";
  int shard = 0, shards = 0, workers = 0;
  std::string endpoint, rule, optimizer;
  double lr = 0;
};
ESYNC_EVENT_KEYS(ServerStart, role, shard, shards, endpoint, rule, workers, lr, optimizer)

// The shard's slice [lo, hi) of a model of n parameters.
struct ServerInit {
  static constexpr const char* kName = "init";
  std::int64_t n = 0, lo = 0, hi = 0;
};
ESYNC_EVENT_KEYS(ServerInit, n, lo, hi)

// Totals so far, every log_every_s and once at the end. samples: the sum of n_i pushed;
// staleness_hist: {"tau": count}.
struct PsStats {
  static constexpr const char* kName = "ps";
  std::int64_t version = 0, pushes = 0, pulls = 0, live = 0;
  double samples = 0, staleness_mean = 0;
  std::int64_t staleness_max = 0;
  json staleness_hist = json::object();
  std::int64_t bytes_in = 0, bytes_out = 0, malformed = 0, rejected = 0;
};
ESYNC_EVENT_KEYS(PsStats, version, pushes, pulls, live, samples, staleness_mean, staleness_max,
                 staleness_hist, bytes_in, bytes_out, malformed, rejected)

struct ServerResume {
  static constexpr const char* kName = "resume";
  std::string file;
  std::int64_t version = 0;
  double samples = 0;
};
ESYNC_EVENT_KEYS(ServerResume, file, version, samples)

// round: named by rank 0's push that asked for it.
struct ServerCheckpoint {
  static constexpr const char* kName = "checkpoint";
  std::int64_t round = 0, version = 0;
};
ESYNC_EVENT_KEYS(ServerCheckpoint, round, version)

// live: workers after the change.
struct ServerJoin {
  static constexpr const char* kName = "join";
  int rank = 0;
  std::int64_t version = 0, live = 0;
};
ESYNC_EVENT_KEYS(ServerJoin, rank, version, live)

struct ServerLeave {
  static constexpr const char* kName = "leave";
  int rank = 0;
  std::string status;  // the worker's own
  std::int64_t live = 0;
};
ESYNC_EVENT_KEYS(ServerLeave, rank, status, live)

// round holds the shard's version; silent_s: how long the worker stalled a sync round (or was
// silent under an asynchronous rule).
struct ServerLost {
  static constexpr const char* kName = "lost";
  int rank = 0;
  std::int64_t round = 0;
  double silent_s = 0;
};
ESYNC_EVENT_KEYS(ServerLost, rank, round, silent_s)

struct ServerEnd {
  static constexpr const char* kName = "end";
  std::string status;  // "ok" (or "error" with error)
  std::int64_t version = 0, pushes = 0, malformed = 0, rejected = 0, lost = 0;
};
ESYNC_EVENT_KEYS(ServerEnd, status, version, pushes, malformed, rejected, lost)

// ---- the state server (coordinator) ---------------------------------------------------------

struct CoordinatorStart {
  static constexpr const char* kName = "start";
  std::string role = "coordinator";
  int port = 0, workers = 0;
  std::string policy, token;  // token: a hint, never the token
  bool curve = false;
  json job;  // the whole JobConfig
};
ESYNC_EVENT_KEYS(CoordinatorStart, role, port, workers, policy, token, curve, job)

// A worker (rank, device, host; joins: an elastic slot) or a shard (server, host).
struct Register {
  static constexpr const char* kName = "register";
  std::optional<int> rank, server;
  std::string host;
  std::optional<std::string> device;
  std::optional<bool> joins;
  std::optional<bool> rejoins;  // a lost rank registered again (a restarted worker)
};
ESYNC_EVENT_KEYS(Register, rank, server, host, device, joins, rejoins)

// K for a round. assign, deadline: k_done (the previous round's) and step_s (the smoothed
// step time); deadline adds deadline_s and share; poll has rank, round, k only.
struct Assign {
  static constexpr const char* kName = "assign";
  int rank = 0;
  std::int64_t round = 0, k = 0;
  std::optional<std::int64_t> k_done;
  std::optional<double> step_s, deadline_s, share;
};
ESYNC_EVENT_KEYS(Assign, rank, round, k, k_done, step_s, deadline_s, share)

struct Goodbye {
  static constexpr const char* kName = "goodbye";
  int rank = 0;
  std::string status;  // the worker's: "ok" or "error: ..."
};
ESYNC_EVENT_KEYS(Goodbye, rank, status)

struct CoordinatorLost {
  static constexpr const char* kName = "lost";
  int rank = 0;
  std::string host;
  double silent_s = 0;
};
ESYNC_EVENT_KEYS(CoordinatorLost, rank, host, silent_s)

// An allreduce group re-formed: generation g closed with `workers` survivors (coordinator_regroup.cpp).
struct CoordinatorRegroup {
  static constexpr const char* kName = "regroup";
  std::int64_t generation = 0, workers = 0;
};
ESYNC_EVENT_KEYS(CoordinatorRegroup, generation, workers)

// A restarted worker that took its lost rank back reported ready to join generation g: the
// group admits it at its next synchronisation (coordinator_regroup.cpp).
struct CoordinatorRejoin {
  static constexpr const char* kName = "rejoin";
  int rank = 0;
  std::int64_t generation = 0;
};
ESYNC_EVENT_KEYS(CoordinatorRejoin, rank, generation)

// The launcher's record of a worker process it lost (`esync run`, launcher-0.jsonl): the job
// went on without it. last_round: the last round its own log completed (-1: none).
struct LauncherLost {
  static constexpr const char* kName = "lost";
  int rank = 0;
  std::string host, device, why;
  std::int64_t last_round = -1;
  std::optional<bool> restarted;  // --restart: started again, to rejoin the job
};
ESYNC_EVENT_KEYS(LauncherLost, rank, host, device, why, last_round, restarted)

struct CoordinatorEnd {
  static constexpr const char* kName = "end";
  std::string status;  // "ok" (or "error" with error)
  std::int64_t messages = 0, malformed = 0, rejected = 0, lost = 0;
};
ESYNC_EVENT_KEYS(CoordinatorEnd, status, messages, malformed, rejected, lost)

// ---- coordinator and shards -----------------------------------------------------------------

// A refused message; rank, host or type (the message's) say from whom.
struct Reject {
  static constexpr const char* kName = "reject";
  std::string reason;
  std::optional<int> rank;
  std::optional<std::string> host, type;
};
ESYNC_EVENT_KEYS(Reject, reason, rank, host, type)

struct Malformed {
  static constexpr const char* kName = "malformed";
  std::string error;
};
ESYNC_EVENT_KEYS(Malformed, error)

// ---- esync local ----------------------------------------------------------------------------

struct LocalStart {
  static constexpr const char* kName = "start";
  int rank = 0;
  std::string host, device, mode = "local";
  json config;
  std::int64_t num_params = 0, resumed_step = 0;
};
ESYNC_EVENT_KEYS(LocalStart, rank, host, device, mode, config, num_params, resumed_step)

struct LocalEnd {
  static constexpr const char* kName = "end";
  std::string status;  // "ok" (or "error" with error)
  double samples_per_s = 0;
  json final;  // the last eval's keys
};
ESYNC_EVENT_KEYS(LocalEnd, status, samples_per_s, final)

// ---- reading ----------------------------------------------------------------------------------

// The event of a log line, read tolerantly (see the top of this file).
template <class E>
E as(const json& line) {
  E e;
  read(line, e);
  return e;
}

// The line's "t" (unix seconds), if it has one.
inline std::optional<double> time_of(const json& line) {
  std::optional<double> t;
  get(line, "t", t);
  return t;
}

}  // namespace esync::logev

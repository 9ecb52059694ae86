#pragma once
// The parts of a worker process, in the order run_worker (worker.cpp) uses them:
//   setup_worker  its data shard, model and transport (parameter server or allreduce group),
//                 every rank starting from rank 0's initial weights (worker_setup.cpp);
//   train_loop    rounds of local steps and synchronisations until the stop rule, with the
//                 emulated heterogeneity, logs and background evaluation (worker_loop.cpp).
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "esync/checkpoint.hpp"
#include "esync/collective.hpp"
#include "esync/coord_client.hpp"
#include "esync/heartbeat.hpp"
#include "esync/job_config.hpp"
#include "esync/jsonl_log.hpp"
#include "esync/log_events.hpp"
#include "esync/ps_client.hpp"
#include "train/data/dataset.hpp"
#include "train/flat_model.hpp"
#include "train/sampler.hpp"
#include "train/sync_staging.hpp"

namespace esync::train {

// What registration with the state server gave this worker, and how it reaches its peers.
struct WorkerJob {
  std::shared_ptr<coord::CoordinatorClient> client;
  JobConfig config;         // the job configuration from the state server
  int rank = 0, world = 1;  // world: the workers the job starts with; ranks >= world join later (elastic)
  std::string mode, device, policy;
  std::string token;      // the job token, for the parameter server
  std::string bind_host;  // the address peers connect to for the allreduce group
  std::chrono::milliseconds timeout{60000};
  const coord::Heartbeat* heartbeat = nullptr;  // the loop stops when it lost the coordinator
  // A restarted worker that took its lost rank back: the regroup generation it joins the
  // allreduce group at (train/regroup.hpp); a parameter-server job takes it as an elastic joiner.
  std::optional<int> rejoin_generation;
};

// Members in dependency order: destruction runs backwards, so the transport closes before the
// model and its staging go (the PS client sends their buffers zero-copy; a send still queued
// after an error must not read freed memory), however the scope holding it is left.
struct WorkerSetup {
  Dataset ds;
  std::optional<ShardSampler> sampler;
  std::optional<FlatModel> fm;       // on the worker's device
  std::optional<SyncStaging> stage;  // the host side of fm that the transports read and write
  std::unique_ptr<comm::Collective> coll;
  std::unique_ptr<ps::PsClient> psc;
  std::string backend;                  // "ps", or the collective's backend
  std::uint64_t first_round = 0;        // a joiner's or a resumed job's first round
  std::optional<std::uint64_t> joined;  // elastic join: the PS version this worker joined at
  bool resuming = false;                // the job continues from a checkpoint
  std::optional<Checkpoint> resumed;    // this worker's own checkpoint, if it had one
};

void setup_worker(const WorkerJob& job, WorkerSetup& s);

// Trains until the stop rule; returns the end-of-job summary (also logged as the "end" event's).
logev::WorkerSummary train_loop(const WorkerJob& job, WorkerSetup& s, JsonlLog& log);

}  // namespace esync::train

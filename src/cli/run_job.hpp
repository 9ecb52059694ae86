#pragma once
// esync run's flags, validated into one job: the JSON every process receives from the
// coordinator (LOGDIR/job.json) and what the launcher itself needs to start the processes.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "esync/job_config.hpp"

namespace esync::cli {

struct RunJob {
  JobConfig job;               // what every process receives from the coordinator (LOGDIR/job.json)
  int timeout_s = 3600;        // the whole job
  double wait_timeout_s = 60;  // any wait on a peer
  int restarts = 0;            // a lost worker is started again this many times at most (it rejoins)
  int metrics_port = -1;       // the state server's Prometheus metrics (-1: none)
  bool dry_run = false, curve = false;
};

// Parses and checks every flag (ConfigError naming the flag); nullopt after --help.
std::optional<RunJob> parse_run_job(int argc, char** argv);

}  // namespace esync::cli

#pragma once
// esync run's flags, validated into one job: the JSON every process receives from the
// coordinator (LOGDIR/job.json) and what the launcher itself needs to start the processes.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace esync::cli {

struct RunJob {
  nlohmann::json job;                // the job configuration (written to LOGDIR/job.json)
  std::vector<std::string> devices;  // one per worker the job starts with
  int servers = 0;
  std::string log_dir, policy;
  int k_base = 1, k_max = 64, timeout_s = 3600;
  double heartbeat_timeout_s = 10, wait_timeout_s = 60;
  bool dry_run = false, curve = false;
};

// Parses and checks every flag (ConfigError naming the flag); nullopt after --help.
std::optional<RunJob> parse_run_job(int argc, char** argv);

}  // namespace esync::cli

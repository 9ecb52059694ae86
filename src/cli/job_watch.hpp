#pragma once
// esync run's live view of its job, read from the logs the processes write anyway
// (LOGDIR/*.jsonl), so watching costs the workers nothing: the samples every worker has done (its
// latest "step"), the job's last test accuracy ("eval"), and each worker's K of its last round
// (the state server's "assign"). status() gives the one line the launcher shows.
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "esync/job_config.hpp"

namespace esync::cli {

class JobWatch {
 public:
  JobWatch(std::filesystem::path log_dir, const JobConfig& job);
  // Reads what the logs gained since the last call; then the line, e.g.
  // "epoch 0.42/1 [########............]  42% | 15300 samples/s | ETA 0:21 | acc 0.8123 | K 4,2,1".
  std::string status();

 private:
  void read(const std::string& file);
  void take(const std::string& file, const std::string& line);

  std::filesystem::path dir_;
  double epochs_, budget_s_;
  int workers_;
  double t0_;
  std::map<std::string, std::uintmax_t> offset_;     // per log file: bytes read
  std::map<std::string, std::string> partial_;       // per log file: a line not yet complete
  std::map<int, double> samples_;                    // rank -> its samples so far
  std::map<int, int> k_;                             // rank -> K of its last planned round
  double acc_ = -1, epoch_ = 0, seen_at_epoch_ = 0;  // the last evaluation's
  std::deque<std::pair<double, double>> history_;    // (time, samples): the recent rate
};

}  // namespace esync::cli

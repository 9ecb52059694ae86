#pragma once
// A worker's side of job checkpoints (esync/job_checkpoint.hpp): resuming its state at set-up,
// and writing it every N rounds from the training loop without stalling it.
#include <cstdint>
#include <optional>

#include "esync/checkpoint.hpp"
#include "esync/job_checkpoint.hpp"
#include "esync/optimizer.hpp"
#include "train/worker_parts.hpp"

namespace esync::train {

// With a "resume" entry in the job: the round to continue at, and this worker's file if it has
// one (loaded, checked against the job, weights and sampler restored; the optimiser state is
// taken by the loop). Called once the model and sampler exist, before the transport.
void resume_worker(const WorkerJob& job, WorkerSetup& s);

class WorkerCheckpoints {
 public:
  WorkerCheckpoints(const WorkerJob& job, WorkerSetup& s);
  // Restores the optimiser state and the samples seen from the resumed file (if any).
  void restore(FlatOptimizer& optim, double& seen) const;
  // The initial objective of the job resumed (least squares' rel_gap), NaN if none.
  double resumed_f0() const;
  // Before round r's synchronisation: rank 0 asks the shards to write theirs with its push.
  void before_sync(std::uint64_t round);
  // After round r's synchronisation: this worker's file, when the round is due.
  void after_sync(std::uint64_t round, FlatOptimizer& optim, double seen, std::int64_t samples, double f0);
  void finish() { writer_.finish(); }
  // Whether round r's synchronisation must be settled (--overlap): the round before a due one,
  // so that rank 0's checkpoint request is not raced by a push in flight, and the due one, so
  // that every worker's file holds the same model. The same on every rank.
  bool settles(std::uint64_t round) const { return job_due(round) || job_due(round + 1); }

 private:
  // Round r writes the job's checkpoint; due: and this worker writes a file for it.
  bool job_due(std::uint64_t round) const { return every_ > 0 && (round + 1) % every_ == 0; }
  bool due(std::uint64_t round) const { return writes_ && job_due(round); }
  const WorkerJob& job_;
  WorkerSetup& s_;
  std::uint64_t every_ = 0;
  bool writes_ = false;
  std::string dir_;
  ckpt::BackgroundWriter writer_;
};

}  // namespace esync::train

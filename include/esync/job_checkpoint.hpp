#pragma once
// Checkpoints of a distributed job (--checkpoint-every N, --resume DIR).
//
// Layout: DIR/round-<R>/worker-<rank>.ckpt and DIR/round-<R>/server-<shard>.ckpt, each an
// atomic Checkpoint file (checkpoint.hpp: temp + fsync + rename) holding the state its process
// had after round R's synchronisation: a worker its weights, its optimiser state, its sampler's
// position and the samples seen; a shard its slice, its optimiser state, its version and the
// samples pushed. Every file carries the job configuration.
//
// Who writes: every worker that started with the job, after each N-th round (in the modes
// without rounds, rank 0's N-th push); rank 0 tells the shards in that push, and each shard
// writes once it has applied it (sync rules: when the round closes), so rank 0's file and the
// shards' hold the same global model. A round can be resumed when rank 0's file and every
// shard's are there (see latest_complete); a worker whose file is missing (it was lost)
// resumes from the global model with a fresh optimiser state.
//
// Writes run on a background thread (never on the training loop); each writer keeps its
// last two checkpoints and deletes its older ones.
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "esync/checkpoint.hpp"

namespace esync::ckpt {

std::string round_dir(const std::string& dir, std::uint64_t round);
std::string worker_file(const std::string& dir, std::uint64_t round, int rank);
std::string server_file(const std::string& dir, std::uint64_t round, int shard);

// Every worker of a synchronous mode (Mode::synchronous, modes.hpp) writes its own file: their
// state sits at aligned round numbers. In an asynchronous mode rank 0 alone writes one.

// The round to resume: the newest with all `workers` worker files and all `shards` server
// files, or, when no round has them all (a worker was lost and stopped writing), the newest
// with rank 0's and the shards'. nullopt if there is none.
std::optional<std::uint64_t> latest_complete(const std::string& dir, int workers, int shards);

// ConfigError naming the first setting that differs between the configuration a checkpoint was
// written with and this job's, among those that define the training state (mode, model, data,
// optimiser, batch, seed, workers, shards, ...). Run-time settings may change: epochs, time
// budget, log and checkpoint places, threads, timeouts, emulated slowdown and delay, devices.
void check_same_job(const nlohmann::json& was, const nlohmann::json& now, const std::string& where);

// One file at a time on a background thread; a new submit waits for the previous write.
// Errors are kept and rethrown by the next submit() or by finish(), so a full disk stops the job
// with its message instead of passing silently.
class BackgroundWriter {
 public:
  explicit BackgroundWriter(std::string file_name) : name_(std::move(file_name)) {}
  ~BackgroundWriter();
  void submit(std::string dir, std::uint64_t round, Checkpoint ck);
  void finish();  // waits for the write in flight and rethrows its error

 private:
  void write(const std::string& dir, std::uint64_t round, const Checkpoint& ck);
  std::string name_;  // worker-<rank>.ckpt or server-<shard>.ckpt
  std::thread t_;
  std::exception_ptr error_;
  std::optional<std::uint64_t> previous_;  // the round written before the last one is kept
};

}  // namespace esync::ckpt

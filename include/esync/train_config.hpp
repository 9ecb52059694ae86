#pragma once
// Torch-free configuration of the training layer, so the CLI can fill it without including
// LibTorch (a TU with torch/torch.h costs ~30 s to compile here).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "esync/optimizer.hpp"

namespace esync::train {

struct DataOptions {
  std::string name =
      "fashion-mnist";                // fashion-mnist | mnist | cifar10 | least-squares | synthetic | tensors
  std::string dir;                    // empty: the dataset's default location
  std::string ls_matrix = "uniform";  // least squares: uniform (seed 000) | normal
  std::int64_t ls_n = 10000, ls_d = 400;
  std::vector<std::int64_t> synthetic_shape = {3, 32, 32};  // synthetic: per-sample shape
  std::int64_t synthetic_n = 4096;
  std::int64_t num_classes = 0;  // tensors: the classes (0: the largest label + 1)
  std::uint64_t seed = 42;
};

struct LocalConfig {
  DataOptions data;
  std::string model = "lenet5";
  std::string device = "cpu";
  int epochs = 3;
  std::int64_t steps = 0;  // > 0: stop after this many steps (overrides epochs)
  std::int64_t batch = 64;
  OptimizerConfig opt;
  std::string lr_schedule = "cosine";
  float lr_gamma = 0.9f;
  double warmup_epochs = 0;  // linear warm-up of the rate over this many epochs
  int threads = 0;           // 0: all cores
  std::uint64_t seed = 42;
  std::string log_dir;                // empty: no JSONL log
  double eval_every_s = 0;            // seconds of training between evaluations (0: off)
  std::int64_t eval_every_steps = 0;  // steps between evaluations (0: off); both off: each epoch
  std::int64_t log_every = 50;        // steps between "step" log events
  std::string save;                   // checkpoint path, written at each epoch end and at the end
  std::string resume;                 // checkpoint to continue from
  bool quiet = false;                 // no progress bar
  nlohmann::json to_json() const;
};

// Trains on one device; returns the final summary (accuracy/loss per epoch, samples/s, ...).
nlohmann::json run_local(const LocalConfig& cfg);

struct StepBenchConfig {
  std::string model = "lenet5";
  std::vector<std::int64_t> input = {1, 28, 28};
  std::int64_t classes = 10;
  std::int64_t batch = 64;
  int threads = 1;
  int warmup = 20;
  double seconds = 5.0;  // measure for at least this long
  std::string optimizer = "momentum";
  std::string device = "cpu";  // cpu | cuda | cuda:N
};

struct WorkerOptions {
  std::string coordinator;  // HOST:PORT
  std::string token;        // the job token (ESYNC_TOKEN)
  std::string device = "cpu";
  int rank = -1;          // -1: the coordinator picks
  double timeout_s = 60;  // every wait on the coordinator or on peers
  int world = -1;         // -1: unknown; else must match the job's (WORLD_SIZE, SLURM_NTASKS)
  std::string bind;       // address peers connect to; "": this host's address towards the coordinator
  // A restarted worker (launch/cluster.sh --restart): its rank is held until the state server
  // declares its previous process lost, so registration is retried while it is, up to timeout_s.
  bool rejoin = false;
};

// One device process of a distributed job: registers with the state server, takes the job
// configuration from it, trains its shard in the job's mode, logs JSONL; returns a summary.
nlohmann::json run_worker(const WorkerOptions& opt);

// Times forward + backward + flat optimiser step on random input; returns samples/s and more.
nlohmann::json run_step_bench(const StepBenchConfig& cfg);

}  // namespace esync::train

#pragma once
// The settings of one distributed job, typed. `esync run` (or a job file for `esync coordinator
// --job`) fills it; the state server hands it to every worker and shard as JSON under the keys
// below; each process reads it back with from_json, where a missing key keeps the default
// written here. Every default of a job lives in this struct, once: the flags of run, local,
// coordinator and worker take theirs from it (cli/job_flags.hpp).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "esync/averaging.hpp"
#include "esync/optimizer.hpp"

namespace esync {

// How the state server sets ESync's K (coord/assignment.hpp). assign, not deadline: alternated
// in one script run (Fashion-MNIST, LeNet-5, 3 workers 1, 2, 4, 5 rounds each;
// results/experiments/policy), deadline did not beat it (median 15 900 against 16 000 samples/s,
// 0.80 at 3.33 against 3.07 s), and a fixed K per round is the simpler rule.
inline constexpr const char* kDefaultPolicy = "assign";

struct JobConfig {
  // What is trained, on which data.
  std::string mode = "esync";  // a row of the mode table (modes.hpp)
  std::string dataset =
      "fashion-mnist";                // fashion-mnist | mnist | cifar10 | least-squares | synthetic | tensors
  std::string data_dir;               // empty: the dataset's system location
  std::int64_t num_classes = 0;       // tensors: 0 = the largest label + 1
  std::string ls_matrix = "uniform";  // least squares: uniform | normal
  std::string model = "lenet5";       // linreg | mlp | lenet5 | cnn | resnet18 | module.pt
  std::int64_t batch = 64;            // per worker and step
  std::string partition = "iid";      // iid | by-class | dirichlet
  double dirichlet_alpha = 0.5;       // label skew of the dirichlet partition
  double epochs = 1;                  // 0: the time budget alone ends the job
  double time_budget_s = 0;           // 0: none
  std::uint64_t seed = 42;

  // The optimiser. lr is the gradient modes' step (on the workers, or on the shards for the
  // parameter server); local_lr the model-averaging modes' local step. The asynchronous modes
  // change optimizer and lr to their mode's defaults unless given (modes.hpp says why).
  std::string optimizer = kDefaultOptimizer;  // sgd | momentum | adam
  double lr = kDefaultLr, momentum = kDefaultMomentum, local_lr = kDefaultLr;
  double global_lr = 1.0;  // eta_global on the averaged change (esync, local-sgd)
  std::string weighting = weighting_name(kDefaultWeighting);  // esync, local-sgd (averaging.hpp)
  std::string drift_correction = "none";  // esync, local-sgd over allreduce: none | scaffold
  bool overlap = false;                   // reduce a round's change behind the next round's steps
  // Applied where the mode updates the weights: on the workers (ssgd over allreduce; the local
  // steps of esync and local-sgd) or on the shards (the parameter server's gradient modes). The
  // schedule runs on the job's samples (every worker and shard agrees on them), in epochs.
  double weight_decay = 0;
  bool nesterov = false;
  std::string lr_schedule = "none";  // none | cosine (to 0 at the last epoch) | exponential
  double lr_gamma = 0.9;             // exponential: the factor per epoch
  double warmup_epochs = 0;          // linear warm-up of the rate over this many epochs

  // K, the local steps of a round.
  std::string policy = kDefaultPolicy;  // esync: assign | deadline | poll
  int k_base = 1;                       // the slowest worker's K (assign)
  int k_max = 64;                       // every worker's upper bound, in every policy
  int k_fixed = 4;                      // local-sgd

  // The parameter server.
  int servers = 0;      // shards; 0: allreduce
  int max_workers = 0;  // elastic capacity; 0: the workers the job starts with
  bool delay_adaptive = false, async_cached = false, dc_adaptive = false;  // the rules' variants
  double dc_lambda = -1;                // < 0: the variant's default (ps::default_dc_lambda)
  std::string on_failure = "continue";  // a lost worker in a PS job: continue | abort

  // Emulated heterogeneity.
  std::vector<double> slowdown;            // per rank, >= 1; empty: all 1
  std::string slowdown_basis = "nominal";  // nominal | measured (heterogeneity.hpp)
  std::string delay = "none";              // injected per exchange: constant:10ms, gaussian:..., ...
  int slow_worker = -1;                    // a rank made slow by the fault tests; -1: none

  // Processes and liveness.
  std::vector<std::string> devices;  // one per starting worker: cpu | cuda:N
  std::string backend = "auto";      // auto | gloo | nccl
  int threads = 1;                   // intra-op threads per worker (esync run: cores / workers)
  // A worker's own batch and threads (--workers cpu:batch=32:threads=8,cuda:0:batch=256), per
  // rank; 0 or no entry: batch and threads above. A GPU and a CPU want different batches.
  std::vector<std::int64_t> batch_per_worker;
  std::vector<int> threads_per_worker;
  double heartbeat_timeout_s = 10, heartbeat_interval_s = 1;

  // Logs and checkpoints.
  std::string log_dir = "logs";
  double eval_every_s = 5;             // seconds between the background evaluations
  int log_every = 20;                  // steps between "step" events
  std::uint64_t checkpoint_every = 0;  // rounds; 0: never
  std::string checkpoint_dir;
  nlohmann::json resume;  // {"dir", "round"} of a resumed job; null otherwise

  int workers() const { return static_cast<int>(devices.size()); }
  // Elastic capacity, never below the starting workers.
  int capacity(int workers) const { return max_workers > workers ? max_workers : workers; }
  std::int64_t batch_of(int rank) const { return own(batch_per_worker, rank, batch); }
  int threads_of(int rank) const { return own(threads_per_worker, rank, threads); }
  double slowdown_of(int rank) const {
    return rank >= 0 && rank < static_cast<int>(slowdown.size()) ? slowdown[static_cast<std::size_t>(rank)]
                                                                 : 1.0;
  }

 private:
  template <class T>
  static T own(const std::vector<T>& v, int rank, T job_wide) {
    return rank >= 0 && rank < static_cast<int>(v.size()) && v[static_cast<std::size_t>(rank)] > 0
               ? v[static_cast<std::size_t>(rank)]
               : job_wide;
  }
};

// The optimiser a job's weights are updated with, at base rate lr (the mode's --lr or --local-lr).
OptimizerConfig optimizer_config(const JobConfig& c, double lr);
// Its rate over the job: steps are the job's samples, an epoch `train_size` of them.
LrSchedule lr_schedule(const JobConfig& c, double lr, std::int64_t train_size);

void to_json(nlohmann::json& j, const JobConfig& c);
void from_json(const nlohmann::json& j, JobConfig& c);  // missing keys keep their defaults

}  // namespace esync

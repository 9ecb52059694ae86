#pragma once
// One parameter-server shard's state, free of sockets and torch so that it can be tested against
// the kernels directly: the weights of its contiguous range of the flat buffer (shard_range), the
// version, membership, the shard's optimiser and the synchronous round. What a push does to the
// weights is the shard's update rule, one a file in src/ps/rules/ with its formula there:
//
//   sync-grad        SSGD: the sample-weighted mean gradient of a round, one optimiser step
//   sync-delta       ESync, local-SGD: the weighted average of the workers' changes (averaging.hpp)
//   async            ASGD: one optimiser step per push, at once
//   delay-adaptive   ASGD with lr * M / max(M, tau)
//   async-cached     ASGD stepping on the mean of every worker's latest gradient
//   dcasgd(-adaptive) DC-ASGD: g + lambda g*g*(w - w_bak_i), at once
// The synchronous rules (sync-*) wait for one push from every live worker. Staleness tau of a
// push = versions applied since the version the worker computed on.
//
// The weights are a copy-on-write snapshot: a reply may still be in flight (ZeroMQ sends
// zero-copy from the snapshot) while the next push arrives; the update then writes a fresh copy
// instead of tearing the one being sent.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "esync/averaging.hpp"
#include "esync/optimizer.hpp"

namespace esync::ps {

struct ShardRange {
  std::size_t lo = 0, hi = 0;
  std::size_t size() const { return hi - lo; }
};
// Contiguous, sizes differ by at most one element.
ShardRange shard_range(std::size_t n, int shards, int shard);

// DC-ASGD's lambda0 as its paper sets it (Zheng et al., ICML 2017, CIFAR-10): 0.04 for the
// constant variant, 2 for the adaptive one, whose lambda0 is divided by sqrt(MeanSquare(g)) ~ |g|
// and so needs a far larger value for the same compensation.
inline double default_dc_lambda(bool adaptive) { return adaptive ? 2.0 : 0.04; }

struct RuleConfig {
  std::string rule = "sync-grad";  // see the list above
  int workers = 1;                 // ranks 0..workers-1 may ever push (an elastic job's capacity)
  int live_at_start = -1;          // ranks below this are live from the start (-1: all); the rest join
  OptimizerConfig opt;             // the server-side optimiser (sync-grad, async*, dcasgd*)
  // Its rate over the job's samples (every push counts its samples); none: opt.lr throughout.
  std::optional<LrSchedule> schedule;
  float global_lr = 1.0f;                                   // sync-delta
  Weighting weighting = kDefaultWeighting;                  // sync-delta (averaging.hpp)
  std::size_t buffers_from = static_cast<std::size_t>(-1);  // sync-delta: this shard's first buffer float
  float dc_lambda = 0.04f, dc_m = 0.95f, dc_eps = 1e-7f;
};
// Whether the rule waits for every live worker's push (ConfigError for an unknown rule). A mode's
// rule comes from the mode table (modes.hpp).
bool is_sync_rule(const std::string& rule);

class UpdateRule;

using Snapshot = std::shared_ptr<const std::vector<float>>;

struct PushOutcome {
  bool applied = false;        // false: a sync round is still waiting for other workers
  std::int64_t staleness = 0;  // async rules
  float lr = 0;                // the step size used (delay-adaptive)
};

class ShardRules {
 public:
  ShardRules(RuleConfig cfg, std::vector<float> init);
  ~ShardRules();
  // Worker `worker` pushes x (gradient, or weighted change c_i Delta_i, size() floats) computed
  // on version `based_on`, with `samples` samples and, for sync-delta, its weight a_i (< 0: the
  // samples). Throws ProtocolError for a second push into one sync round, a dead or unknown
  // worker, or a version from the future.
  PushOutcome push(int worker, const float* x, double samples, std::uint64_t based_on, double weight = -1);
  // The worker received the current weights (DC-ASGD's backup copy w_bak_i).
  void pulled(int worker);
  // A worker left (finished or lost): sync rounds stop waiting for it. Returns true when that
  // completed a round.
  bool remove_worker(int worker);
  // A worker joins (elastic join, or a rank that was not live at the start): from now on sync
  // rounds wait for it. The server calls it at a round boundary or into the open round (the
  // worker then holds this round's weights); it throws ProtocolError for a live or unknown rank.
  void add_worker(int worker);

  Snapshot weights() const { return w_; }
  std::uint64_t version() const { return version_; }
  std::size_t size() const { return n_; }
  int live_workers() const;
  bool is_live(int worker) const { return live_.at(static_cast<std::size_t>(worker)); }
  int pending() const { return pending_; }  // pushes waiting in the open sync round
  std::vector<int> missing() const;         // live workers that have not pushed this sync round
  const RuleConfig& config() const { return cfg_; }
  // Checkpoints: the server-side optimiser's state, and the version a resumed shard continues at.
  FlatOptimizer& optimizer() { return opt_; }
  void restore_version(std::uint64_t v) { version_ = v; }
  // The samples pushed so far (accepted pushes), which the rate's schedule runs on; a resumed
  // shard's come from its file.
  double samples() const { return samples_; }
  void restore_samples(double s) { samples_ = s; }

 private:
  float* mutable_w();  // copy-on-write
  void apply(const float* g, float lr);
  float lr() const;  // the optimiser's rate now
  bool complete_round();

  RuleConfig cfg_;
  std::size_t n_;
  std::shared_ptr<std::vector<float>> w_;
  std::uint64_t version_ = 0;
  FlatOptimizer opt_;
  std::unique_ptr<UpdateRule> rule_;
  bool sync_;  // the rule is synchronous
  std::vector<char> live_, pushed_;
  int pending_ = 0;
  double pending_samples_ = 0, pending_weight_ = 0;
  double samples_ = 0;
};

}  // namespace esync::ps

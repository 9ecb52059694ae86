#include "cli/job_flags.hpp"

#include <sstream>

#include "cli/options.hpp"
#include "esync/error.hpp"
#include "esync/heterogeneity.hpp"

namespace esync::cli {
namespace {

using S = std::string;
template <typename T>
std::shared_ptr<cxxopts::Value> dflt(const T& v) {
  if constexpr (std::is_same_v<T, S>)
    return cxxopts::value<S>()->default_value(v);
  else if constexpr (std::is_same_v<T, bool>)
    return cxxopts::value<bool>()->default_value(v ? "true" : "false");
  else if constexpr (std::is_floating_point_v<T>)
    return cxxopts::value<double>()->default_value(text(v));
  else
    return cxxopts::value<T>()->default_value(std::to_string(v));
}

// The value of a flag, or `keep` when only_given and the flag was not on the command line.
template <typename T>
void take(const cxxopts::ParseResult& r, const char* flag, T& out, bool only_given = false) {
  if (only_given && !r.count(flag)) return;
  if constexpr (std::is_floating_point_v<T>)
    out = static_cast<T>(r[flag].as<double>());
  else
    out = r[flag].as<T>();
}

void positive(double v, const char* flag) { ESYNC_CHECK_T(ConfigError, v > 0, "--", flag, " must be > 0"); }

const JobConfig kD;  // the defaults

}  // namespace

std::string text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void check_one_of(const std::string& v, const std::set<std::string>& allowed, const char* flag) {
  if (allowed.count(v)) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : " | ") + a;
  ESYNC_THROW(ConfigError, flag, " '", v, "': expected ", list);
}

void add_data_flags(cxxopts::Options& o) {
  // clang-format off
  o.add_options("Data and model")
    ("dataset", "fashion-mnist | mnist | cifar10 | least-squares | synthetic | tensors (your own: DIR/train.pt and DIR/test.pt, each torch.save((x, y), path))", dflt(kD.dataset))
    ("data-dir", "Dataset directory (default: the dataset's system location)", dflt(kD.data_dir))
    ("num-classes", "Classes of --dataset tensors (0: the largest label + 1)", dflt(kD.num_classes))
    ("ls-matrix", "Least squares matrix: uniform | normal (well conditioned)", dflt(kD.ls_matrix))
    ("model", "linreg | mlp | lenet5 | cnn | resnet18 | path/to/module.pt", dflt(kD.model))
    ("batch", "Batch size per worker and step", dflt(kD.batch))
    ("seed", "Random seed (data order, initialisation, synthetic data)", dflt(kD.seed));
  // clang-format on
}

void read_data_flags(const cxxopts::ParseResult& r, JobConfig& c) {
  take(r, "dataset", c.dataset);
  take(r, "data-dir", c.data_dir);
  take(r, "num-classes", c.num_classes);
  ESYNC_CHECK_T(ConfigError, c.num_classes == 0 || c.num_classes >= 2, "--num-classes must be 0 or >= 2");
  take(r, "ls-matrix", c.ls_matrix);
  take(r, "model", c.model);
  take(r, "batch", c.batch);
  take(r, "seed", c.seed);
  check_one_of(c.dataset, {"fashion-mnist", "mnist", "cifar10", "least-squares", "synthetic", "tensors"},
               "--dataset");
  check_one_of(c.ls_matrix, {"uniform", "normal"}, "--ls-matrix");
  ESYNC_CHECK_T(ConfigError, c.batch >= 1, "--batch must be >= 1");
}

void add_optimizer_flags(cxxopts::Options& o, const std::string& schedule) {
  // clang-format off
  o.add_options("Optimiser")
    ("optimizer", "sgd | momentum | adam (asgd, dcasgd: default sgd)", dflt(kD.optimizer))
    ("lr", "Learning rate of the gradient modes (ssgd, asgd, dcasgd) and of esync local (asgd, dcasgd with sgd: default 0.1)", dflt(kD.lr))
    ("momentum", "Momentum (--optimizer momentum)", dflt(kD.momentum))
    ("nesterov", "Nesterov momentum (--optimizer momentum)", dflt(kD.nesterov))
    ("weight-decay", "L2 weight decay (decoupled for adam)", dflt(kD.weight_decay))
    ("lr-schedule", "none | cosine (to 0 at the last epoch) | exponential", dflt(schedule))
    ("lr-gamma", "Factor per epoch of --lr-schedule exponential", dflt(kD.lr_gamma))
    ("warmup-epochs", "Raise the rate linearly from 0 over this many epochs (0: none)", dflt(kD.warmup_epochs));
  // clang-format on
}

void read_optimizer_flags(const cxxopts::ParseResult& r, JobConfig& c) {
  take(r, "optimizer", c.optimizer);
  take(r, "lr", c.lr);
  take(r, "momentum", c.momentum);
  take(r, "nesterov", c.nesterov);
  take(r, "weight-decay", c.weight_decay);
  take(r, "lr-schedule", c.lr_schedule);
  take(r, "lr-gamma", c.lr_gamma);
  take(r, "warmup-epochs", c.warmup_epochs);
  check_one_of(c.optimizer, {"sgd", "momentum", "adam"}, "--optimizer");
  positive(c.lr, "lr");
  ESYNC_CHECK_T(ConfigError, c.momentum >= 0 && c.momentum < 1, "--momentum must be in [0, 1)");
  ESYNC_CHECK_T(ConfigError, c.weight_decay >= 0, "--weight-decay must be >= 0");
  check_schedule(c.lr_schedule);
  positive(c.lr_gamma, "lr-gamma");
  ESYNC_CHECK_T(ConfigError, c.warmup_epochs >= 0, "--warmup-epochs must be >= 0");
}

void add_k_flags(cxxopts::Options& o) {
  // clang-format off
  o.add_options("Local steps (K)")
    ("policy", "assign | deadline | poll (esync: how K is set; deadline = assign run against the clock)", dflt(kD.policy))
    ("k-base", "Local steps of the slowest worker per round (esync, assign policy)", dflt(kD.k_base))
    ("k-max", "Upper bound on local steps per round", dflt(kD.k_max));
  // clang-format on
}

void read_k_flags(const cxxopts::ParseResult& r, JobConfig& c, bool only_given) {
  take(r, "policy", c.policy, only_given);
  take(r, "k-base", c.k_base, only_given);
  take(r, "k-max", c.k_max, only_given);
  check_one_of(c.policy, {"assign", "deadline", "poll"}, "--policy");
  ESYNC_CHECK_T(ConfigError, c.k_base >= 1 && c.k_max >= c.k_base, "need 1 <= --k-base <= --k-max");
}

void add_averaging_flags(cxxopts::Options& o) {
  // clang-format off
  o.add_options("Model averaging (esync, local-sgd)")
    ("local-lr", "Local learning rate", dflt(kD.local_lr))
    ("global-lr", "Global learning rate applied to the averaged update", dflt(kD.global_lr))
    ("weighting", "How the workers' changes are averaged: batch (by per-step batch; equal batches, equal weights) | samples (by the round's samples) | normalized (each change per local step, FedNova)", dflt(kD.weighting))
    ("drift-correction", "Over allreduce: none | scaffold (control variates against the drift of local steps on non-iid data)", dflt(kD.drift_correction))
    ("overlap", "Reduce each round's update while the next round's local steps run (delayed averaging)", dflt(kD.overlap))
    ("k-fixed", "Local steps per round (local-sgd)", dflt(kD.k_fixed));
  // clang-format on
}

void read_averaging_flags(const cxxopts::ParseResult& r, JobConfig& c) {
  take(r, "local-lr", c.local_lr);
  take(r, "global-lr", c.global_lr);
  take(r, "weighting", c.weighting);
  take(r, "drift-correction", c.drift_correction);
  take(r, "overlap", c.overlap);
  take(r, "k-fixed", c.k_fixed);
  positive(c.local_lr, "local-lr");
  positive(c.global_lr, "global-lr");
  (void)parse_weighting(c.weighting);
  check_one_of(c.drift_correction, {"none", "scaffold"}, "--drift-correction");
  ESYNC_CHECK_T(ConfigError, c.k_fixed >= 1, "--k-fixed must be >= 1");
}

void add_ps_flags(cxxopts::Options& o) {
  // clang-format off
  o.add_options("Parameter server")
    ("servers", "Parameter-server shards (0: allreduce; asgd and dcasgd need >= 1, default 1)", dflt(kD.servers))
    ("max-workers", "Elastic capacity: up to this many workers, the extra ones joining the running job (0: --workers)", dflt(kD.max_workers))
    ("delay-adaptive", "asgd: step size lr * M / max(M, staleness)", dflt(kD.delay_adaptive))
    ("async-cached", "asgd: step on the mean of every worker's latest gradient", dflt(kD.async_cached))
    ("dc-lambda", "dcasgd: compensation strength lambda0 (default 0.04; 2 with --dc-adaptive, as the DC-ASGD paper sets them)", cxxopts::value<double>())
    ("dc-adaptive", "dcasgd: lambda0 / sqrt(mean square of g)", dflt(kD.dc_adaptive))
    ("on-failure", "A lost worker: continue (drop it) | abort (stop the job)", dflt(kD.on_failure));
  // clang-format on
}

void read_ps_flags(const cxxopts::ParseResult& r, JobConfig& c) {
  take(r, "servers", c.servers);
  take(r, "max-workers", c.max_workers);
  take(r, "delay-adaptive", c.delay_adaptive);
  take(r, "async-cached", c.async_cached);
  take(r, "dc-adaptive", c.dc_adaptive);
  take(r, "on-failure", c.on_failure);
  if (r.count("dc-lambda")) {
    take(r, "dc-lambda", c.dc_lambda);
    ESYNC_CHECK_T(ConfigError, c.dc_lambda >= 0, "--dc-lambda must be >= 0");
  }
  ESYNC_CHECK_T(ConfigError, c.servers >= 0 && c.servers <= 256, "--servers must be 0 to 256");
  check_one_of(c.on_failure, {"continue", "abort"}, "--on-failure");
}

void add_emulation_flags(cxxopts::Options& o) {
  // clang-format off
  o.add_options("Emulated heterogeneity")
    ("slowdown", "Per-rank slowdown factors >= 1, e.g. 1,2,4 (default: all 1)", cxxopts::value<S>()->default_value(""))
    ("slowdown-basis", "nominal (f x this CPU's best recent step) | measured ((f-1) x the step just measured: load on the host slows every worker alike)", dflt(kD.slowdown_basis))
    ("delay", "Injected delay per sync: none | constant:10ms | gaussian:10ms,3ms | exponential:10ms", dflt(kD.delay))
    ("slow-worker", "Rank that is made slow (-1: none)", dflt(kD.slow_worker));
  // clang-format on
}

void read_emulation_flags(const cxxopts::ParseResult& r, JobConfig& c) {
  if (const auto s = r["slowdown"].as<S>(); !s.empty()) c.slowdown = parse_list(s, "--slowdown");
  for (const double f : c.slowdown)
    ESYNC_CHECK_T(ConfigError, f >= 1 && f <= 1e6, "--slowdown factor ", f, " must be >= 1");
  take(r, "slowdown-basis", c.slowdown_basis);
  (void)SlowdownModel(1.0, c.slowdown_basis);  // refuses an unknown basis here, before anything starts
  take(r, "delay", c.delay);
  (void)DelayModel(c.delay, 0);  // the workers parse it the same way: reject a bad spec here, once
  take(r, "slow-worker", c.slow_worker);
}

void add_liveness_flags(cxxopts::Options& o, bool interval) {
  o.add_options("Liveness")("heartbeat-timeout",
                            "Seconds of silence before the coordinator declares a worker lost (and a "
                            "worker its coordinator)",
                            dflt(kD.heartbeat_timeout_s));
  if (interval)
    o.add_options("Liveness")("heartbeat-interval", "Seconds between a worker's heartbeats",
                              dflt(kD.heartbeat_interval_s));
}

void read_liveness_flags(const cxxopts::ParseResult& r, JobConfig& c, bool interval, bool only_given) {
  take(r, "heartbeat-timeout", c.heartbeat_timeout_s, only_given);
  positive(c.heartbeat_timeout_s, "heartbeat-timeout");
  if (!interval) return;
  take(r, "heartbeat-interval", c.heartbeat_interval_s, only_given);
  positive(c.heartbeat_interval_s, "heartbeat-interval");
  ESYNC_CHECK_T(ConfigError, c.heartbeat_interval_s < c.heartbeat_timeout_s,
                "--heartbeat-interval must be shorter than --heartbeat-timeout");
}

}  // namespace esync::cli

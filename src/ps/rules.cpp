#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "esync/error.hpp"
#include "esync/kernels.hpp"
#include "esync/ps_rules.hpp"

namespace esync::ps {

ShardRange shard_range(std::size_t n, int shards, int shard) {
  ESYNC_CHECK_T(ConfigError, shards >= 1 && shard >= 0 && shard < shards, "shard ", shard, " of ", shards);
  const std::size_t s = static_cast<std::size_t>(shards), i = static_cast<std::size_t>(shard);
  const std::size_t base = n / s, extra = n % s;  // the first `extra` shards hold one more
  const std::size_t lo = i * base + std::min(i, extra);
  return {lo, lo + base + (i < extra ? 1 : 0)};
}

std::string rule_for(const std::string& mode, bool delay_adaptive, bool async_cached, bool dc_adaptive) {
  if (mode == "ssgd") return "sync-grad";
  if (mode == "esync" || mode == "local-sgd") return "sync-delta";
  if (mode == "asgd") return async_cached ? "async-cached" : delay_adaptive ? "delay-adaptive" : "async";
  if (mode == "dcasgd") return dc_adaptive ? "dcasgd-adaptive" : "dcasgd";
  ESYNC_THROW(ConfigError, "no parameter-server rule for mode '", mode, "'");
}

bool is_sync_rule(const std::string& rule) { return rule == "sync-grad" || rule == "sync-delta"; }

namespace {
void check_rule(const std::string& r) {
  for (const char* known : {"sync-grad", "sync-delta", "async", "delay-adaptive", "async-cached", "dcasgd", "dcasgd-adaptive"})
    if (r == known) return;
  ESYNC_THROW(ConfigError, "unknown parameter-server rule '", r, "'");
}
}  // namespace

ShardRules::ShardRules(RuleConfig cfg, std::vector<float> init)
    : cfg_(std::move(cfg)),
      n_(init.size()),
      w_(std::make_shared<std::vector<float>>(std::move(init))),
      opt_(cfg_.opt, n_) {
  check_rule(cfg_.rule);
  ESYNC_CHECK_T(ConfigError, cfg_.workers >= 1, "a shard needs >= 1 worker");
  const auto m = static_cast<std::size_t>(cfg_.workers);
  ESYNC_CHECK_T(ConfigError, cfg_.live_at_start <= cfg_.workers, "live_at_start ", cfg_.live_at_start, " > workers ",
                cfg_.workers);
  live_.assign(m, 0);
  std::fill_n(live_.begin(), cfg_.live_at_start < 0 ? m : static_cast<std::size_t>(cfg_.live_at_start), 1);
  pushed_.assign(m, 0);
  has_.assign(m, 0);
  if (is_sync_rule(cfg_.rule)) acc_.assign(n_, 0.0f);
  if (cfg_.rule == "async-cached") per_worker_.assign(m, std::vector<float>(n_, 0.0f));
  if (cfg_.rule.rfind("dcasgd", 0) == 0) {
    per_worker_.assign(m, std::vector<float>());
    tmp_.assign(n_, 0.0f);
    if (cfg_.rule == "dcasgd-adaptive") ms_.assign(n_, 0.0f);
  }
}

int ShardRules::live_workers() const { return static_cast<int>(std::count(live_.begin(), live_.end(), 1)); }

std::vector<int> ShardRules::missing() const {
  std::vector<int> out;
  for (std::size_t i = 0; i < live_.size(); ++i)
    if (live_[i] && !pushed_[i]) out.push_back(static_cast<int>(i));
  return out;
}

float* ShardRules::mutable_w() {
  // A reply still holding the snapshot (ZeroMQ sending it) keeps the old copy alive.
  if (w_.use_count() > 1) {
    w_ = std::make_shared<std::vector<float>>(*w_);
  } else {
    // The count is read relaxed; pair it with the releasing decrement of the last sender so
    // its reads of the old data happen before our writes.
    std::atomic_thread_fence(std::memory_order_acquire);
  }
  return w_->data();
}

void ShardRules::apply(const float* g, float lr) {
  opt_.step(mutable_w(), g, lr);
  ++version_;
}

void ShardRules::pulled(int worker) {
  if (per_worker_.empty() || cfg_.rule == "async-cached") return;
  auto& bak = per_worker_.at(static_cast<std::size_t>(worker));
  bak.assign(w_->begin(), w_->end());  // DC-ASGD: the copy this worker now computes on
  has_[static_cast<std::size_t>(worker)] = 1;
}

PushOutcome ShardRules::push(int worker, const float* x, double samples, std::uint64_t based_on, double weight) {
  ESYNC_CHECK_T(ProtocolError, worker >= 0 && worker < cfg_.workers, "push from unknown worker ", worker);
  const auto i = static_cast<std::size_t>(worker);
  ESYNC_CHECK_T(ProtocolError, live_[i], "push from worker ", worker, ", which has left");
  ESYNC_CHECK_T(ProtocolError, based_on <= version_, "push based on version ", based_on, " but the shard is at ", version_);
  ESYNC_CHECK_T(ProtocolError, samples >= 0, "push with negative samples");
  PushOutcome out;
  out.staleness = static_cast<std::int64_t>(version_ - based_on);
  out.lr = cfg_.opt.lr;
  if (is_sync_rule(cfg_.rule)) {
    // Sync: accumulate n_i x_i (x arrives weighted for sync-delta; weight gradients here).
    ESYNC_CHECK_T(ProtocolError, std::isfinite(weight), "push with a weight that is not a number");
    ESYNC_CHECK_T(ProtocolError, !pushed_[i], "worker ", worker, " pushed twice into round ", version_);
    if (cfg_.rule == "sync-grad")
      kernels::cpu::axpy(acc_.data(), static_cast<float>(samples), x, n_);
    else
      kernels::cpu::axpy(acc_.data(), 1.0f, x, n_);
    pushed_[i] = 1;
    ++pending_;
    pending_samples_ += samples;
    pending_weight_ += weight < 0 ? samples : weight;
    out.applied = complete_round();
    return out;
  }
  const float* g = x;
  if (cfg_.rule == "delay-adaptive") {
    out.lr = kernels::delay_adaptive_lr(cfg_.opt.lr, live_workers(), out.staleness);
  } else if (cfg_.rule == "async-cached") {
    // Mean of every live worker's latest gradient (zeros until a worker has pushed).
    std::memcpy(per_worker_[i].data(), x, n_ * sizeof(float));
    std::vector<const float*> xs;
    for (std::size_t j = 0; j < live_.size(); ++j)
      if (live_[j]) xs.push_back(per_worker_[j].data());
    std::vector<float> weights(xs.size(), 1.0f / static_cast<float>(xs.size()));
    acc_.resize(n_);
    kernels::cpu::weighted_sum(acc_.data(), xs.data(), weights.data(), static_cast<int>(xs.size()), n_);
    g = acc_.data();
  } else if (cfg_.rule == "dcasgd" || cfg_.rule == "dcasgd-adaptive") {
    ESYNC_CHECK_T(ProtocolError, has_[i], "DC-ASGD push from worker ", worker, " before it pulled");
    const float* bak = per_worker_[i].data();
    if (cfg_.rule == "dcasgd")
      kernels::cpu::dc_compensate(tmp_.data(), x, w_->data(), bak, n_, cfg_.dc_lambda);
    else
      kernels::cpu::dc_compensate_adaptive(tmp_.data(), x, w_->data(), bak, ms_.data(), n_, cfg_.dc_lambda, cfg_.dc_m,
                                           cfg_.dc_eps);
    g = tmp_.data();
  }
  apply(g, out.lr);
  out.applied = true;
  return out;
}

bool ShardRules::complete_round() {
  if (pending_ == 0 || !missing().empty()) return false;
  const double total = pending_samples_;
  if (cfg_.rule == "sync-grad") {
    if (total > 0) kernels::cpu::scale(acc_.data(), static_cast<float>(1.0 / total), n_);
    apply(acc_.data(), cfg_.opt.lr);
  } else {
    float* w = mutable_w();
    apply_average(w, w, acc_.data(), n_, cfg_.buffers_from,
                  round_scales(cfg_.weighting, cfg_.global_lr, total, pending_weight_));
    ++version_;
  }
  std::fill(acc_.begin(), acc_.end(), 0.0f);
  std::fill(pushed_.begin(), pushed_.end(), 0);
  pending_ = 0;
  pending_samples_ = 0, pending_weight_ = 0;
  return true;
}

bool ShardRules::remove_worker(int worker) {
  ESYNC_CHECK_T(ProtocolError, worker >= 0 && worker < cfg_.workers, "unknown worker ", worker);
  const auto i = static_cast<std::size_t>(worker);
  if (!live_[i]) return false;
  live_[i] = 0;
  if (!is_sync_rule(cfg_.rule)) return false;
  // Its push into the open round (if any) still counts: it was computed on this round's w.
  return complete_round();
}

void ShardRules::add_worker(int worker) {
  ESYNC_CHECK_T(ProtocolError, worker >= 0 && worker < cfg_.workers, "join from unknown worker ", worker, " (capacity ",
                cfg_.workers, ")");
  const auto i = static_cast<std::size_t>(worker);
  ESYNC_CHECK_T(ProtocolError, !live_[i], "worker ", worker, " joins but is live already");
  live_[i] = 1;
  pushed_[i] = 0;
  has_[i] = 0;  // DC-ASGD: no backup until it pulls; async-cached: its slot restarts from zeros
  if (cfg_.rule == "async-cached") std::fill(per_worker_[i].begin(), per_worker_[i].end(), 0.0f);
}

}  // namespace esync::ps

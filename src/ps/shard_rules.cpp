// A shard's weights, version, membership and synchronous round (ps_rules.hpp); what a push does
// to the weights is the rule's (rules/).
#include <algorithm>
#include <atomic>
#include <cmath>

#include "esync/error.hpp"
#include "esync/ps_rules.hpp"
#include "rules/update_rule.hpp"

namespace esync::ps {

ShardRange shard_range(std::size_t n, int shards, int shard) {
  ESYNC_CHECK_T(ConfigError, shards >= 1 && shard >= 0 && shard < shards, "shard ", shard, " of ", shards);
  const std::size_t s = static_cast<std::size_t>(shards), i = static_cast<std::size_t>(shard);
  const std::size_t base = n / s, extra = n % s;  // the first `extra` shards hold one more
  const std::size_t lo = i * base + std::min(i, extra);
  return {lo, lo + base + (i < extra ? 1 : 0)};
}

ShardRules::ShardRules(RuleConfig cfg, std::vector<float> init)
    : cfg_(std::move(cfg)),
      n_(init.size()),
      w_(std::make_shared<std::vector<float>>(std::move(init))),
      opt_(cfg_.opt, n_),
      rule_(make_rule(cfg_, n_)),
      sync_(is_sync_rule(cfg_.rule)) {
  ESYNC_CHECK_T(ConfigError, cfg_.workers >= 1, "a shard needs >= 1 worker");
  const auto m = static_cast<std::size_t>(cfg_.workers);
  ESYNC_CHECK_T(ConfigError, cfg_.live_at_start <= cfg_.workers, "live_at_start ", cfg_.live_at_start,
                " > workers ", cfg_.workers);
  live_.assign(m, 0);
  std::fill_n(live_.begin(), cfg_.live_at_start < 0 ? m : static_cast<std::size_t>(cfg_.live_at_start), 1);
  pushed_.assign(m, 0);
}

ShardRules::~ShardRules() = default;

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

float ShardRules::lr() const {
  return cfg_.schedule ? cfg_.schedule->at(static_cast<std::int64_t>(samples_)) : cfg_.opt.lr;
}

void ShardRules::pulled(int worker) { rule_->pulled(worker, w_->data(), n_); }

PushOutcome ShardRules::push(int worker, const float* x, double samples, std::uint64_t based_on,
                             double weight) {
  ESYNC_CHECK_T(ProtocolError, worker >= 0 && worker < cfg_.workers, "push from unknown worker ", worker);
  const auto i = static_cast<std::size_t>(worker);
  ESYNC_CHECK_T(ProtocolError, live_[i], "push from worker ", worker, ", which has left");
  ESYNC_CHECK_T(ProtocolError, based_on <= version_, "push based on version ", based_on,
                " but the shard is at ", version_);
  ESYNC_CHECK_T(ProtocolError, samples >= 0, "push with negative samples");
  PushOutcome out;
  out.staleness = static_cast<std::int64_t>(version_ - based_on);
  out.lr = lr();
  if (sync_) {
    ESYNC_CHECK_T(ProtocolError, std::isfinite(weight), "push with a weight that is not a number");
    ESYNC_CHECK_T(ProtocolError, !pushed_[i], "worker ", worker, " pushed twice into round ", version_);
    rule_->add(x, samples);
    samples_ += samples;
    pushed_[i] = 1;
    ++pending_;
    pending_samples_ += samples;
    pending_weight_ += weight < 0 ? samples : weight;
    out.applied = complete_round();
    return out;
  }
  const ShardView view{w_->data(), n_, &live_, live_workers()};
  const auto step = rule_->step_for(worker, x, out.staleness, view, out.lr);
  out.lr = step.lr;
  samples_ += samples;
  apply(step.g, step.lr);
  out.applied = true;
  return out;
}

bool ShardRules::complete_round() {
  if (pending_ == 0 || !missing().empty()) return false;
  rule_->close(mutable_w(), opt_, lr(), pending_samples_, pending_weight_);
  ++version_;
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
  if (!sync_) return false;
  // Its push into the open round (if any) still counts: it was computed on this round's w.
  return complete_round();
}

void ShardRules::add_worker(int worker) {
  ESYNC_CHECK_T(ProtocolError, worker >= 0 && worker < cfg_.workers, "join from unknown worker ", worker,
                " (capacity ", cfg_.workers, ")");
  const auto i = static_cast<std::size_t>(worker);
  ESYNC_CHECK_T(ProtocolError, !live_[i], "worker ", worker, " joins but is live already");
  live_[i] = 1;
  pushed_[i] = 0;
  rule_->joined(worker);
}

}  // namespace esync::ps

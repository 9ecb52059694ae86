#pragma once
// One parameter-server update rule: how a shard turns pushes into new weights. One rule a file
// in this folder, each with its formula; the rule table (../rule_table.cpp) names them.
// ShardRules (esync/ps_rules.hpp) keeps what every rule shares: the copy-on-write weights, the
// version, the shard's optimiser, membership, and the synchronous round (every live worker has
// pushed once).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "esync/optimizer.hpp"
#include "esync/ps_rules.hpp"

namespace esync::ps {

// What a rule sees of its shard at a push.
struct ShardView {
  const float* w = nullptr;                 // the current weights
  std::size_t n = 0;                        // floats in this shard
  const std::vector<char>* live = nullptr;  // live[i]: worker i is in the job
  int live_workers = 0;
};

class UpdateRule {
 public:
  virtual ~UpdateRule() = default;

  // Asynchronous rules, once per push of x from `worker` with staleness tau: the gradient the
  // shard's optimiser steps with (x itself, or the rule's scratch) and its step size.
  struct Step {
    const float* g;
    float lr;
  };
  virtual Step step_for(int worker, const float* x, std::int64_t staleness, const ShardView& s, float lr) {
    return {x, lr};
  }

  // Synchronous rules: one push into the open round (samples n_i; weight a_i for a model change),
  // then, once every live worker has pushed, the round's update of w (totals over the round) at
  // the optimiser's rate lr.
  virtual void add(const float* x, double samples) {}
  virtual void close(float* w, FlatOptimizer& opt, float lr, double total_samples, double total_weight) {}

  // The worker received the current weights w / joined the job (a rule with per-worker state).
  virtual void pulled(int worker, const float* w, std::size_t n) {}
  virtual void joined(int worker) {}
};

// The rule cfg.rule names (ConfigError for an unknown name), from the rule table.
std::unique_ptr<UpdateRule> make_rule(const RuleConfig& cfg, std::size_t n);
// One maker per rule file.
std::unique_ptr<UpdateRule> make_sync_grad(const RuleConfig& cfg, std::size_t n);
std::unique_ptr<UpdateRule> make_sync_delta(const RuleConfig& cfg, std::size_t n);
std::unique_ptr<UpdateRule> make_async(const RuleConfig& cfg, std::size_t n);
std::unique_ptr<UpdateRule> make_delay_adaptive(const RuleConfig& cfg, std::size_t n);
std::unique_ptr<UpdateRule> make_async_cached(const RuleConfig& cfg, std::size_t n);
std::unique_ptr<UpdateRule> make_dcasgd(const RuleConfig& cfg, std::size_t n);
std::unique_ptr<UpdateRule> make_dcasgd_adaptive(const RuleConfig& cfg, std::size_t n);

}  // namespace esync::ps

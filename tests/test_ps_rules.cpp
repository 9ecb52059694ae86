// The parameter server's update rules against a plain double-precision reference written here
// (not the kernels they call), and shard_range. Refused pushes, workers leaving and snapshots:
// test_ps_membership.cpp; the ZeroMQ shard and client: test_ps_server.cpp; malformed input and
// a silent worker: test_ps_faults.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>
#include <zmq.hpp>

#include "esync/error.hpp"
#include "esync/message.hpp"
#include "esync/modes.hpp"
#include "esync/ps_client.hpp"
#include "esync/ps_rules.hpp"
#include "esync/ps_server.hpp"
#include "esync/wire.hpp"
#include "ps_rules_ref.hpp"

using namespace esync;
using namespace esync::ps;
using namespace esync::test;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------------------------------------
// shard_range

TEST(ShardRange, CoversContiguouslyAndBalanced) {
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1001}}) {
    for (int shards = 1; shards <= 8; ++shards) {
      std::size_t next = 0, lo_size = n, hi_size = 0;
      for (int s = 0; s < shards; ++s) {
        const auto r = shard_range(n, shards, s);
        EXPECT_EQ(r.lo, next) << "n " << n << " shards " << shards << " shard " << s;
        EXPECT_LE(r.lo, r.hi);
        EXPECT_EQ(r.size(), r.hi - r.lo);
        next = r.hi;
        lo_size = std::min(lo_size, r.size());
        hi_size = std::max(hi_size, r.size());
      }
      EXPECT_EQ(next, n) << "n " << n << " shards " << shards;
      EXPECT_LE(hi_size - lo_size, 1u) << "n " << n << " shards " << shards;
    }
  }
  EXPECT_THROW(shard_range(10, 0, 0), ConfigError);
  EXPECT_THROW(shard_range(10, 2, 2), ConfigError);
  EXPECT_THROW(shard_range(10, 2, -1), ConfigError);
}

TEST(ShardRules, RuleForModes) {
  const auto rule = [](const char* mode, bool delay_adaptive, bool async_cached, bool dc_adaptive) {
    return find_mode(mode).server_rule(RuleFlags{delay_adaptive, async_cached, dc_adaptive});
  };
  EXPECT_EQ(rule("ssgd", false, false, false), "sync-grad");
  EXPECT_EQ(rule("esync", false, false, false), "sync-delta");
  EXPECT_EQ(rule("local-sgd", false, false, false), "sync-delta");
  EXPECT_EQ(rule("asgd", false, false, false), "async");
  EXPECT_EQ(rule("asgd", true, false, false), "delay-adaptive");
  EXPECT_EQ(rule("asgd", false, true, false), "async-cached");
  EXPECT_EQ(rule("dcasgd", false, false, false), "dcasgd");
  EXPECT_EQ(rule("dcasgd", false, false, true), "dcasgd-adaptive");
  EXPECT_THROW(rule("nonsense", false, false, false), ConfigError);
  // A variant flag of another mode, or two that exclude each other.
  EXPECT_THROW(rule("ssgd", true, false, false), ConfigError);
  EXPECT_THROW(rule("esync", false, false, true), ConfigError);
  EXPECT_THROW(rule("asgd", false, false, true), ConfigError);
  EXPECT_THROW(rule("asgd", true, true, false), ConfigError);
  EXPECT_THROW(rule("dcasgd", false, true, false), ConfigError);
  // Every mode's rule is one the shards know.
  for (const Mode& m : modes()) EXPECT_EQ(is_sync_rule(m.server_rule({})), m.synchronous()) << m.name;
  EXPECT_TRUE(is_sync_rule("sync-grad"));
  EXPECT_TRUE(is_sync_rule("sync-delta"));
  EXPECT_FALSE(is_sync_rule("async"));
  RuleConfig bad;
  bad.rule = "no-such-rule";
  EXPECT_THROW(ShardRules(bad, std::vector<float>(3)), ConfigError);
}

// ---------------------------------------------------------------------------------------------
// ShardRules against a double-precision reference

class RulesBySize : public ::testing::TestWithParam<std::size_t> {};

TEST_P(RulesBySize, SyncGradSgdIsSampleWeightedMeanStep) {
  const std::size_t n = GetParam();
  std::mt19937 rng(11);
  const int m = 3;
  auto w0 = random_vec(n, rng);
  ShardRules rules(rule_cfg("sync-grad", m, "sgd", 0.1f), w0);
  Ref w = to_ref(w0);
  for (int round = 0; round < 3; ++round) {
    std::vector<std::vector<float>> g;
    const double samples[m] = {1.0, 3.0, 4.0 + round};
    for (int i = 0; i < m; ++i) g.push_back(random_vec(n, rng));
    for (int i = 0; i < m; ++i) {
      EXPECT_EQ(rules.pending(), i);
      const auto out = rules.push(i, g[static_cast<std::size_t>(i)].data(), samples[i], rules.version());
      EXPECT_EQ(out.applied, i == m - 1) << "round " << round << " push " << i;
      EXPECT_EQ(out.staleness, 0);
    }
    EXPECT_EQ(rules.version(), std::uint64_t(round + 1));
    EXPECT_EQ(rules.pending(), 0);
    const double total = samples[0] + samples[1] + samples[2];
    for (std::size_t k = 0; k < n; ++k) {
      double mean = 0;
      for (int i = 0; i < m; ++i) mean += samples[i] * g[static_cast<std::size_t>(i)][k];
      w[k] -= 0.1 * (mean / total);
    }
    expect_close(weights_of(rules), w, "sync-grad round " + std::to_string(round));
  }
}

TEST_P(RulesBySize, SyncGradMomentum) {
  const std::size_t n = GetParam();
  std::mt19937 rng(12);
  const int m = 3;
  auto w0 = random_vec(n, rng);
  ShardRules rules(rule_cfg("sync-grad", m, "momentum", 0.05f), w0);
  Ref w = to_ref(w0), buf(n, 0.0);
  for (int round = 0; round < 4; ++round) {
    std::vector<std::vector<float>> g;
    for (int i = 0; i < m; ++i) g.push_back(random_vec(n, rng));
    for (int i = m - 1; i >= 0; --i)
      rules.push(i, g[static_cast<std::size_t>(i)].data(), 2.0, rules.version());
    for (std::size_t k = 0; k < n; ++k) {
      const double mean = (double(g[0][k]) + g[1][k] + g[2][k]) / 3.0;
      buf[k] = 0.9 * buf[k] + mean;
      w[k] -= 0.05 * buf[k];
    }
    expect_close(weights_of(rules), w, "sync-grad momentum round " + std::to_string(round));
  }
  EXPECT_EQ(rules.version(), 4u);
}

TEST_P(RulesBySize, SyncDeltaAddsGlobalLrTimesWeightedMean) {
  const std::size_t n = GetParam();
  std::mt19937 rng(13);
  const int m = 3;
  auto w0 = random_vec(n, rng);
  auto cfg = rule_cfg("sync-delta", m);
  cfg.global_lr = 0.7f;
  ShardRules rules(cfg, w0);
  Ref w = to_ref(w0);
  for (int round = 0; round < 2; ++round) {
    const double samples[m] = {2.0, 5.0, 1.0};
    std::vector<std::vector<float>> d;  // n_i-weighted deltas, as a worker sends them
    for (int i = 0; i < m; ++i) {
      auto v = random_vec(n, rng);
      for (auto& x : v) x *= float(samples[i]);
      d.push_back(std::move(v));
    }
    for (int i = 0; i < m; ++i)
      rules.push(i, d[static_cast<std::size_t>(i)].data(), samples[i], rules.version());
    const double total = samples[0] + samples[1] + samples[2];
    for (std::size_t k = 0; k < n; ++k) w[k] += 0.7 * (double(d[0][k]) + d[1][k] + d[2][k]) / total;
    expect_close(weights_of(rules), w, "sync-delta round " + std::to_string(round));
  }
  EXPECT_EQ(rules.version(), 2u);
}

// The normalized weighting on a shard whose range ends in BatchNorm buffers: each worker pushes
// c_i Delta_i = (B_i / K_i) Delta_i with weight B_i; the parameters move by
// global_lr * tau_eff * sum_i (B_i / W) Delta_i / K_i, the buffers to their plain B-weighted mean.
TEST_P(RulesBySize, SyncDeltaNormalizedAndPlainBuffers) {
  const std::size_t n = GetParam(), buffers_from = n / 2;
  std::mt19937 rng(15);
  const int m = 3;
  auto w0 = random_vec(n, rng);
  auto cfg = rule_cfg("sync-delta", m);
  cfg.global_lr = 0.7f, cfg.weighting = esync::Weighting::normalized, cfg.buffers_from = buffers_from;
  ShardRules rules(cfg, w0);
  Ref w = to_ref(w0);
  const double k[m] = {4, 2, 1}, b[m] = {32, 64, 64};
  const double total_s = 4 * 32 + 2 * 64 + 64, total_b = 32 + 64 + 64;
  std::vector<std::vector<float>> delta, pushed;
  for (int i = 0; i < m; ++i) {
    delta.push_back(random_vec(n, rng));
    const auto c = esync::contribution(esync::Weighting::normalized, k[i] * b[i], static_cast<int>(k[i]));
    ASSERT_DOUBLE_EQ(c.weight, b[i]);
    pushed.push_back(delta.back());
    for (std::size_t j = 0; j < n; ++j) pushed.back()[j] *= j < buffers_from ? c.param_coef : c.buffer_coef;
  }
  for (int i = 0; i < m; ++i) {
    const auto c = esync::contribution(esync::Weighting::normalized, k[i] * b[i], static_cast<int>(k[i]));
    rules.push(i, pushed[static_cast<std::size_t>(i)].data(), k[i] * b[i], rules.version(), c.weight);
  }
  for (std::size_t j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i)
      w[j] += j < buffers_from ? 0.7 * (total_s / total_b) * (b[i] / total_b) *
                                     delta[static_cast<std::size_t>(i)][j] / k[i]
                               : (b[i] / total_b) * delta[static_cast<std::size_t>(i)][j];
  expect_close(weights_of(rules), w, "sync-delta normalized");
}

TEST_P(RulesBySize, AsyncPlainStepAndStaleness) {
  const std::size_t n = GetParam();
  std::mt19937 rng(14);
  auto w0 = random_vec(n, rng);
  ShardRules rules(rule_cfg("async", 2, "sgd", 0.1f), w0);
  Ref w = to_ref(w0);
  const std::uint64_t based[] = {0, 0, 1, 0, 4, 2};
  const std::int64_t stale[] = {0, 1, 1, 3, 0, 3};
  for (int s = 0; s < 6; ++s) {
    auto g = random_vec(n, rng);
    const auto out = rules.push(s % 2, g.data(), 1.0, based[s]);
    EXPECT_TRUE(out.applied);
    EXPECT_EQ(out.staleness, stale[s]) << "push " << s;
    EXPECT_FLOAT_EQ(out.lr, 0.1f);
    for (std::size_t k = 0; k < n; ++k) w[k] -= 0.1 * g[k];
    EXPECT_EQ(rules.version(), std::uint64_t(s + 1));
  }
  expect_close(weights_of(rules), w, "async");
}

TEST_P(RulesBySize, DelayAdaptiveScalesByWorkersOverStaleness) {
  const std::size_t n = GetParam();
  std::mt19937 rng(15);
  const int m = 2;
  auto w0 = random_vec(n, rng);
  ShardRules rules(rule_cfg("delay-adaptive", m, "sgd", 0.1f), w0);
  Ref w = to_ref(w0);
  auto step = [&](int worker, std::uint64_t based_on, std::int64_t want_tau) {
    auto g = random_vec(n, rng);
    const auto out = rules.push(worker, g.data(), 1.0, based_on);
    EXPECT_EQ(out.staleness, want_tau);
    const double lr = 0.1 * m / double(std::max<std::int64_t>(m, want_tau));
    EXPECT_NEAR(out.lr, lr, 1e-7) << "tau " << want_tau;
    for (std::size_t k = 0; k < n; ++k) w[k] -= lr * g[k];
  };
  for (int i = 0; i < 5; ++i) step(0, rules.version(), 0);  // fresh: full lr
  step(1, 4, 1);                                            // tau 1 <= M: full lr
  step(1, 0, 6);                                            // tau 6: lr * 2/6
  step(0, 1, 6);
  step(0, 6, 2);  // tau == M: full lr
  expect_close(weights_of(rules), w, "delay-adaptive");
}

TEST_P(RulesBySize, AsyncCachedStepsOnMeanOfLatestGradients) {
  const std::size_t n = GetParam();
  std::mt19937 rng(16);
  const int m = 3;
  auto w0 = random_vec(n, rng);
  ShardRules rules(rule_cfg("async-cached", m, "sgd", 0.1f), w0);
  Ref w = to_ref(w0);
  std::vector<std::vector<float>> latest(m, std::vector<float>(n, 0.0f));  // zeros until pushed
  std::vector<char> live(m, 1);
  auto push = [&](int worker) {
    auto g = random_vec(n, rng);
    rules.push(worker, g.data(), 1.0, rules.version());
    latest[static_cast<std::size_t>(worker)] = g;
    int count = 0;
    for (int j = 0; j < m; ++j) count += live[static_cast<std::size_t>(j)];
    for (std::size_t k = 0; k < n; ++k) {
      double mean = 0;
      for (int j = 0; j < m; ++j)
        if (live[static_cast<std::size_t>(j)]) mean += latest[static_cast<std::size_t>(j)][k];
      w[k] -= 0.1 * mean / count;
    }
  };
  push(0);  // (g0 + 0 + 0) / 3
  expect_close(weights_of(rules), w, "async-cached after 1 push");
  push(1);
  push(0);  // worker 0's new gradient replaces its old one
  expect_close(weights_of(rules), w, "async-cached after 3 pushes");
  EXPECT_FALSE(rules.remove_worker(2));  // never pushed; the mean is over the live workers now
  live[2] = 0;
  push(1);
  push(0);
  expect_close(weights_of(rules), w, "async-cached after remove_worker");
  EXPECT_EQ(rules.version(), 5u);
  auto g = random_vec(n, rng);
  EXPECT_THROW(rules.push(2, g.data(), 1.0, rules.version()), ProtocolError);
}

// Shared by dcasgd and dcasgd-adaptive: ms empty selects the plain rule.
void run_dc(std::size_t n, bool adaptive) {
  std::mt19937 rng(adaptive ? 18 : 17);
  const int m = 2;
  const double lr = 0.1, lambda = 0.5, mom = 0.95, eps = 1e-7;
  auto cfg = rule_cfg(adaptive ? "dcasgd-adaptive" : "dcasgd", m, "sgd", float(lr));
  cfg.dc_lambda = float(lambda);
  cfg.dc_m = float(mom);
  cfg.dc_eps = float(eps);
  auto w0 = random_vec(n, rng);
  ShardRules rules(cfg, w0);
  Ref w = to_ref(w0), ms(n, 0.0);
  std::vector<Ref> bak(m);
  auto pulled = [&](int worker) {
    rules.pulled(worker);
    bak[static_cast<std::size_t>(worker)] = w;
  };
  auto push = [&](int worker) {
    // Large enough gradients that the compensation term is far above the tolerance.
    auto g = random_vec(n, rng, -2.0f, 2.0f);
    rules.push(worker, g.data(), 1.0, rules.version());
    const auto& b = bak[static_cast<std::size_t>(worker)];
    for (std::size_t k = 0; k < n; ++k) {
      const double gk = g[k];
      double lam = lambda;
      if (adaptive) {
        ms[k] = mom * ms[k] + (1 - mom) * gk * gk;
        lam = lambda / std::sqrt(ms[k] + eps);
      }
      const double gt = gk + lam * gk * gk * (w[k] - b[k]);
      w[k] -= lr * gt;
    }
  };
  const std::string what = adaptive ? "dcasgd-adaptive" : "dcasgd";
  pulled(0);
  pulled(1);
  push(0);  // w == w_bak_0: no compensation yet
  push(1);  // computed on w0, the shard has moved: compensated
  expect_close(weights_of(rules), w, what + " after 2 pushes");
  pulled(0);
  push(0);
  push(1);  // w_bak_1 is still w0
  push(1);
  expect_close(weights_of(rules), w, what + " after 5 pushes");
  EXPECT_EQ(rules.version(), 5u);
}

TEST_P(RulesBySize, DcAsgdCompensatesAgainstBackup) { run_dc(GetParam(), false); }
TEST_P(RulesBySize, DcAsgdAdaptive) { run_dc(GetParam(), true); }

INSTANTIATE_TEST_SUITE_P(Sizes, RulesBySize,
                         ::testing::Values(std::size_t{0}, std::size_t{1}, std::size_t{1001},
                                           std::size_t{1} << 20));

}  // namespace

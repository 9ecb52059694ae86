// The parameter-server layer: the shard's update rules against a plain double-precision
// reference written here (not the kernels they call), and the ZeroMQ shard with its worker
// client end to end on 127.0.0.1 (random ports, ranks as threads). Integer-valued inputs make
// the end-to-end results exact, so they are compared with ==. Malformed input and a silent
// worker must be counted and survived, never hang the job. No test asserts a timing.
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
#include "esync/ps_client.hpp"
#include "esync/ps_rules.hpp"
#include "esync/ps_server.hpp"
#include "esync/wire.hpp"

using namespace esync;
using namespace esync::ps;
using namespace std::chrono_literals;

namespace {

constexpr const char* kToken = "test-token";

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
  EXPECT_EQ(rule_for("ssgd", false, false, false), "sync-grad");
  EXPECT_EQ(rule_for("esync", false, false, false), "sync-delta");
  EXPECT_EQ(rule_for("local-sgd", false, false, false), "sync-delta");
  EXPECT_EQ(rule_for("asgd", false, false, false), "async");
  EXPECT_EQ(rule_for("asgd", true, false, false), "delay-adaptive");
  EXPECT_EQ(rule_for("asgd", false, true, false), "async-cached");
  EXPECT_EQ(rule_for("dcasgd", false, false, false), "dcasgd");
  EXPECT_EQ(rule_for("dcasgd", false, false, true), "dcasgd-adaptive");
  EXPECT_THROW(rule_for("nonsense", false, false, false), ConfigError);
  EXPECT_TRUE(is_sync_rule("sync-grad"));
  EXPECT_TRUE(is_sync_rule("sync-delta"));
  EXPECT_FALSE(is_sync_rule("async"));
  RuleConfig bad;
  bad.rule = "no-such-rule";
  EXPECT_THROW(ShardRules(bad, std::vector<float>(3)), ConfigError);
}

// ---------------------------------------------------------------------------------------------
// ShardRules against a double-precision reference

using Ref = std::vector<double>;

std::vector<float> random_vec(std::size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

Ref to_ref(const std::vector<float>& v) { return Ref(v.begin(), v.end()); }

// Counts elements outside atol + rtol * |ref| and reports the first few.
void expect_close(const std::vector<float>& got, const Ref& ref, const std::string& what, double tol = 1e-5) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  std::size_t bad = 0;
  std::ostringstream first;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(double(got[i]) - ref[i]);
    if (!(err <= tol + tol * std::abs(ref[i]))) {
      if (bad < 3) first << " [" << i << "] got " << got[i] << " want " << ref[i] << ";";
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ":" << first.str();
}

std::vector<float> weights_of(const ShardRules& r) { return *r.weights(); }

RuleConfig rule_cfg(const std::string& rule, int workers, const std::string& opt = "sgd", float lr = 0.1f) {
  RuleConfig c;
  c.rule = rule;
  c.workers = workers;
  c.opt.kind = opt;
  c.opt.lr = lr;
  c.opt.momentum = 0.9f;
  c.opt.weight_decay = 0.0f;
  return c;
}

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
    for (int i = m - 1; i >= 0; --i) rules.push(i, g[static_cast<std::size_t>(i)].data(), 2.0, rules.version());
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
    for (int i = 0; i < m; ++i) rules.push(i, d[static_cast<std::size_t>(i)].data(), samples[i], rules.version());
    const double total = samples[0] + samples[1] + samples[2];
    for (std::size_t k = 0; k < n; ++k) w[k] += 0.7 * (double(d[0][k]) + d[1][k] + d[2][k]) / total;
    expect_close(weights_of(rules), w, "sync-delta round " + std::to_string(round));
  }
  EXPECT_EQ(rules.version(), 2u);
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
  step(1, 4, 1);                                             // tau 1 <= M: full lr
  step(1, 0, 6);                                             // tau 6: lr * 2/6
  step(0, 1, 6);
  step(0, 6, 2);                                             // tau == M: full lr
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
                         ::testing::Values(std::size_t{0}, std::size_t{1}, std::size_t{1001}, std::size_t{1} << 20));

TEST(ShardRules, DcAsgdPushBeforePullThrows) {
  ShardRules rules(rule_cfg("dcasgd", 2), std::vector<float>(5, 1.0f));
  std::vector<float> g(5, 0.5f);
  EXPECT_THROW(rules.push(0, g.data(), 1.0, 0), ProtocolError);
  rules.pulled(0);
  EXPECT_NO_THROW(rules.push(0, g.data(), 1.0, 0));
}

TEST(ShardRules, SecondPushIntoSyncRoundThrows) {
  for (const char* rule : {"sync-grad", "sync-delta"}) {
    ShardRules rules(rule_cfg(rule, 3), std::vector<float>(4, 1.0f));
    std::vector<float> g(4, 0.5f);
    EXPECT_FALSE(rules.push(1, g.data(), 1.0, 0).applied);
    EXPECT_THROW(rules.push(1, g.data(), 1.0, 0), ProtocolError) << rule;
    EXPECT_EQ(rules.pending(), 1) << rule;
    EXPECT_EQ(rules.missing(), (std::vector<int>{0, 2})) << rule;
    EXPECT_EQ(rules.version(), 0u);
  }
}

TEST(ShardRules, PushFromTheFutureOrUnknownWorkerThrows) {
  for (const char* rule : {"sync-grad", "sync-delta", "async", "delay-adaptive", "async-cached", "dcasgd"}) {
    ShardRules rules(rule_cfg(rule, 2), std::vector<float>(4, 1.0f));
    std::vector<float> g(4, 0.5f);
    rules.pulled(0);
    EXPECT_THROW(rules.push(0, g.data(), 1.0, 1), ProtocolError) << rule;
    EXPECT_THROW(rules.push(2, g.data(), 1.0, 0), ProtocolError) << rule;
    EXPECT_THROW(rules.push(-1, g.data(), 1.0, 0), ProtocolError) << rule;
    EXPECT_THROW(rules.push(0, g.data(), -1.0, 0), ProtocolError) << rule;
    EXPECT_EQ(rules.version(), 0u) << rule;
    EXPECT_EQ(weights_of(rules), std::vector<float>(4, 1.0f)) << rule;
  }
}

TEST(ShardRules, RemoveWorkerCompletesOpenSyncRound) {
  const std::size_t n = 1001;
  std::mt19937 rng(19);
  auto w0 = random_vec(n, rng);
  ShardRules rules(rule_cfg("sync-grad", 3, "sgd", 0.1f), w0);
  auto g0 = random_vec(n, rng), g1 = random_vec(n, rng);
  EXPECT_FALSE(rules.push(0, g0.data(), 1.0, 0).applied);
  EXPECT_FALSE(rules.push(1, g1.data(), 3.0, 0).applied);
  EXPECT_EQ(rules.missing(), std::vector<int>{2});
  EXPECT_TRUE(rules.remove_worker(2));
  EXPECT_EQ(rules.version(), 1u);
  EXPECT_EQ(rules.live_workers(), 2);
  EXPECT_FALSE(rules.is_live(2));
  Ref w = to_ref(w0);
  for (std::size_t k = 0; k < n; ++k) w[k] -= 0.1 * (1.0 * g0[k] + 3.0 * g1[k]) / 4.0;
  expect_close(weights_of(rules), w, "round completed by remove_worker");
  EXPECT_THROW(rules.push(2, g0.data(), 1.0, 1), ProtocolError);  // it has left
  EXPECT_FALSE(rules.remove_worker(2));                            // twice: nothing happens
  // The next round needs only the two live workers.
  EXPECT_FALSE(rules.push(0, g0.data(), 1.0, 1).applied);
  EXPECT_TRUE(rules.push(1, g0.data(), 1.0, 1).applied);
  EXPECT_EQ(rules.version(), 2u);
  EXPECT_THROW(rules.remove_worker(3), ProtocolError);
}

TEST(ShardRules, RemovedWorkersOpenPushStillCounts) {
  const std::size_t n = 17;
  std::mt19937 rng(20);
  auto w0 = random_vec(n, rng);
  ShardRules rules(rule_cfg("sync-grad", 3, "sgd", 0.1f), w0);
  auto g0 = random_vec(n, rng), g1 = random_vec(n, rng), g2 = random_vec(n, rng);
  rules.push(0, g0.data(), 2.0, 0);
  EXPECT_FALSE(rules.remove_worker(0));  // 1 and 2 still missing
  EXPECT_FALSE(rules.push(1, g1.data(), 1.0, 0).applied);
  EXPECT_TRUE(rules.push(2, g2.data(), 1.0, 0).applied);
  Ref w = to_ref(w0);
  for (std::size_t k = 0; k < n; ++k) w[k] -= 0.1 * (2.0 * g0[k] + g1[k] + g2[k]) / 4.0;
  expect_close(weights_of(rules), w, "round with a departed worker's push");
}

TEST(ShardRules, SnapshotIsCopyOnWrite) {
  ShardRules rules(rule_cfg("async", 1, "sgd", 1.0f), std::vector<float>(3, 5.0f));
  const auto held = rules.weights();  // a reply in flight
  std::vector<float> g(3, 1.0f);
  rules.push(0, g.data(), 1.0, 0);
  EXPECT_EQ(*held, std::vector<float>(3, 5.0f));
  EXPECT_EQ(weights_of(rules), std::vector<float>(3, 4.0f));
}

// ---------------------------------------------------------------------------------------------
// ShardServer + PsClient over ZeroMQ

// A shard serving on its own thread. run() returns by itself once every worker has left.
struct Shard {
  explicit Shard(ShardConfig cfg) : server(std::move(cfg)), t([this] {
    try {
      server.run(stop);
    } catch (...) {
      error = std::current_exception();
    }
    done = true;
  }) {}
  ~Shard() {
    stop = true;
    if (t.joinable()) t.join();
  }
  // Waits (bounded) for run() to return by itself; false if it had to be stopped.
  bool finish(std::chrono::milliseconds wait = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    const bool by_itself = done;
    stop = true;
    t.join();
    return by_itself;
  }
  std::string error_text() const {
    if (!error) return "";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "?";
  }

  ShardServer server;
  std::atomic<bool> stop{false}, done{false};
  std::exception_ptr error;
  std::thread t;
};

ShardConfig shard_cfg(int shard, int shards, const std::string& rule, int workers,
                      std::chrono::milliseconds timeout = 10s) {
  ShardConfig c;
  c.shard = shard;
  c.shards = shards;
  c.bind = "127.0.0.1";
  c.port = 0;
  c.rule.rule = rule;
  c.rule.workers = workers;
  c.rule.opt.kind = "sgd";
  c.rule.opt.lr = 1.0f;
  c.token = kToken;
  c.job_id = 1;
  c.timeout = timeout;
  return c;
}

struct Job {
  Job(int shards, const std::string& rule, int workers, std::chrono::milliseconds timeout = 10s) {
    for (int s = 0; s < shards; ++s) {
      shard.push_back(std::make_unique<Shard>(shard_cfg(s, shards, rule, workers, timeout)));
      endpoints.push_back(shard.back()->server.endpoint());
    }
  }
  // Every shard ends by itself, without an error.
  void finish() {
    for (std::size_t s = 0; s < shard.size(); ++s) {
      EXPECT_TRUE(shard[s]->finish(5s)) << "shard " << s << " did not end when every worker had left";
      EXPECT_EQ(shard[s]->error_text(), "") << "shard " << s;
    }
  }
  std::vector<std::unique_ptr<Shard>> shard;
  std::vector<std::string> endpoints;
};

// Runs body(rank) on `size` threads and fails the test with each rank's error.
template <typename Body>
void run_ranks(int size, Body body) {
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size));
  std::vector<std::thread> ranks;
  for (int r = 0; r < size; ++r)
    ranks.emplace_back([&, r] {
      try {
        body(r);
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : ranks) t.join();
  for (int r = 0; r < size; ++r) {
    if (!errors[static_cast<std::size_t>(r)]) continue;
    try {
      std::rethrow_exception(errors[static_cast<std::size_t>(r)]);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "rank " << r << ": " << e.what();
    }
  }
}

// Integer-valued data: every sum and every mean below is exact in float (the per-element
// factor is a power of two, so even a mean over 7 workers rounds to the exact value).
float init_value(std::size_t i) { return float(int(i % 1000) - 500); }
float grad_value(int rank, std::size_t i) { return float((rank + 1) * (1 << (i % 4))); }

class PsEndToEnd : public ::testing::TestWithParam<std::tuple<int, int, std::size_t>> {};

TEST_P(PsEndToEnd, SyncGradEveryRankGetsInitMinusMean) {
  const auto [workers, shards, n] = GetParam();
  Job job(shards, "sync-grad", workers);
  const int rounds = 2;
  run_ranks(workers, [&, workers = workers, n = n](int rank) {
    PsClient client(job.endpoints, kToken, rank, 1, n, 5s);
    EXPECT_EQ(client.shards(), static_cast<int>(job.endpoints.size()));
    std::vector<float> w(n);
    if (rank == 0) {
      for (std::size_t i = 0; i < n; ++i) w[i] = init_value(i);
      client.init(w.data());
    } else {
      const auto r = client.pull(w.data());
      EXPECT_EQ(r.version, 0u);
      std::vector<float> init(n);
      for (std::size_t i = 0; i < n; ++i) init[i] = init_value(i);
      EXPECT_EQ(w, init) << "rank " << rank << " pulled the initial weights";
    }
    std::vector<float> g(n);
    for (std::size_t i = 0; i < n; ++i) g[i] = grad_value(rank, i);
    for (int round = 1; round <= rounds; ++round) {
      const auto r = client.push_pull(w.data(), g.data(), 1.0, false);
      EXPECT_EQ(r.version, std::uint64_t(round));
      EXPECT_EQ(r.staleness, 0);
      EXPECT_FALSE(r.stop);
      EXPECT_EQ(r.samples, double(workers * round));
      // mean over ranks of (r+1) * 2^(i%4) = (M+1)/2 * 2^(i%4)
      std::size_t wrong = 0, first = n;
      for (std::size_t i = 0; i < n; ++i) {
        const double mean = (workers + 1) / 2.0 * double(1 << (i % 4));
        const float want = float(double(init_value(i)) - round * mean);
        if (w[i] != want) {
          if (first == n) first = i;
          ++wrong;
        }
      }
      EXPECT_EQ(wrong, 0u) << "rank " << rank << " round " << round << " first wrong element " << first
                           << (first < n ? " = " + std::to_string(w[first]) : "");
    }
    client.leave("done");
  });
  job.finish();
  for (std::size_t s = 0; s < job.shard.size(); ++s) {
    const auto st = job.shard[s]->server.stats();
    EXPECT_EQ(st.pushes, std::uint64_t(workers * rounds)) << "shard " << s;
    EXPECT_EQ(st.malformed, 0u);
    EXPECT_EQ(st.rejected, 0u);
    EXPECT_EQ(st.lost, 0u);
  }
}

TEST_P(PsEndToEnd, AsyncFinalWeightsAreInitMinusSumOfPushes) {
  const auto [workers, shards, n] = GetParam();
  Job job(shards, "async", workers);
  const int pushes = 3;
  std::barrier all_pushed(workers);
  run_ranks(workers, [&, workers = workers, n = n](int rank) {
    PsClient client(job.endpoints, kToken, rank, 1, n, 5s);
    std::vector<float> w(n);
    if (rank == 0) {
      for (std::size_t i = 0; i < n; ++i) w[i] = init_value(i);
      client.init(w.data());
    } else {
      client.pull(w.data());
    }
    std::vector<float> g(n);
    for (std::size_t i = 0; i < n; ++i) g[i] = grad_value(rank, i);
    for (int p = 0; p < pushes; ++p) {
      const auto r = client.push_pull(w.data(), g.data(), 1.0, false);
      EXPECT_GE(r.version, std::uint64_t(p + 1));
      EXPECT_GE(r.staleness, 0);
      EXPECT_LT(r.staleness, std::int64_t(workers * pushes));
    }
    all_pushed.arrive_and_wait();
    const auto r = client.pull(w.data());
    EXPECT_EQ(r.version, std::uint64_t(workers * pushes));
    const double sum_ranks = workers * (workers + 1) / 2.0;  // sum of (r+1)
    std::size_t wrong = 0, first = n;
    for (std::size_t i = 0; i < n; ++i) {
      const float want = float(double(init_value(i)) - pushes * sum_ranks * double(1 << (i % 4)));
      if (w[i] != want) {
        if (first == n) first = i;
        ++wrong;
      }
    }
    EXPECT_EQ(wrong, 0u) << "rank " << rank << " first wrong element " << first;
    all_pushed.arrive_and_wait();  // nobody leaves before everyone has checked
    client.leave("done");
  });
  job.finish();
  for (std::size_t s = 0; s < job.shard.size(); ++s) {
    const auto st = job.shard[s]->server.stats();
    EXPECT_EQ(st.pushes, std::uint64_t(workers * pushes)) << "shard " << s;
    EXPECT_EQ(st.malformed + st.rejected + st.lost, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Grid, PsEndToEnd,
    ::testing::Combine(::testing::Values(1, 2, 3, 7, 8), ::testing::Values(1, 3),
                       ::testing::Values(std::size_t{0}, std::size_t{1}, std::size_t{1001}, std::size_t{1} << 20)),
    [](const auto& info) {
      return "w" + std::to_string(std::get<0>(info.param)) + "_s" + std::to_string(std::get<1>(info.param)) + "_n" +
             std::to_string(std::get<2>(info.param));
    });

TEST(PsClient, WrongTokenIsRefused) {
  Job job(1, "sync-grad", 1);
  EXPECT_THROW(PsClient(job.endpoints, "not-the-token", 0, 1, 4, 5s), PeerLostError);
  EXPECT_THROW(PsClient(job.endpoints, kToken, 1, 1, 4, 5s), PeerLostError);  // rank out of range
  {
    PsClient ok(job.endpoints, kToken, 0, 1, 4, 5s);
    std::vector<float> w(4, 1.0f);
    ok.init(w.data());
    ok.leave("done");
  }
  job.finish();
  EXPECT_EQ(job.shard[0]->server.stats().rejected, 2u);
}

TEST(PsClient, NoShardAnswersIsATimeout) {
  // A ROUTER that never answers: the client's registration must end in a TimeoutError.
  zmq::context_t ctx;
  zmq::socket_t mute(ctx, zmq::socket_type::router);
  mute.set(zmq::sockopt::linger, 0);
  mute.bind("tcp://127.0.0.1:*");
  const std::string ep = mute.get(zmq::sockopt::last_endpoint);
  EXPECT_THROW(PsClient({ep}, kToken, 0, 1, 4, 300ms), TimeoutError);
}

// ---------------------------------------------------------------------------------------------
// Malformed input while a job runs

std::string header_bytes(wire::MsgType t, std::uint64_t payload, std::uint32_t rank = 0, std::uint64_t round = 0,
                         std::uint64_t job = 1) {
  wire::Header h;
  h.type = t;
  h.job_id = job;
  h.rank = rank;
  h.round = round;
  h.payload_bytes = payload;
  const auto b = wire::encode(h);
  return std::string(b.begin(), b.end());
}

// A message: header (payload computed from the frames unless given), body, tensor frames.
std::vector<std::string> frames(wire::MsgType t, const std::string& body, std::vector<std::string> tensors = {},
                                std::uint32_t rank = 0, long payload = -1) {
  std::uint64_t p = body.size();
  for (const auto& f : tensors) p += f.size();
  std::vector<std::string> out{header_bytes(t, payload < 0 ? p : std::uint64_t(payload), rank), body};
  for (auto& f : tensors) out.push_back(std::move(f));
  return out;
}

std::string float_frame(std::size_t count, float v = 1.0f) {
  std::string s(count * sizeof(float), '\0');
  for (std::size_t i = 0; i < count; ++i) std::memcpy(s.data() + i * sizeof(float), &v, sizeof(float));
  return s;
}

TEST(PsServer, MalformedInputIsCountedAndTheJobStaysExact) {
  const std::size_t n = 1001;
  const int workers = 2, rounds = 3;
  Job job(1, "sync-grad", workers);
  std::atomic<bool> raw_done{false};
  std::atomic<bool> first_round_done{false};

  std::thread good([&] {
    run_ranks(workers, [&](int rank) {
      PsClient client(job.endpoints, kToken, rank, 1, n, 5s);
      std::vector<float> w(n), g(n);
      if (rank == 0) {
        for (std::size_t i = 0; i < n; ++i) w[i] = init_value(i);
        client.init(w.data());
      } else {
        client.pull(w.data());
      }
      for (std::size_t i = 0; i < n; ++i) g[i] = grad_value(rank, i);
      for (int round = 1; round <= rounds; ++round) {
        if (round == 2) {  // the bad traffic arrives while the job is running; wait (bounded) for it
          if (rank == 0) first_round_done = true;
          const auto deadline = std::chrono::steady_clock::now() + 10s;
          while (!raw_done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
        }
        client.push_pull(w.data(), g.data(), 1.0, false);
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < n; ++i)
          wrong += w[i] != float(double(init_value(i)) - round * 1.5 * double(1 << (i % 4)));
        EXPECT_EQ(wrong, 0u) << "rank " << rank << " round " << round;
      }
      client.leave("done");
    });
  });

  // Start the bad traffic once the good workers are in the job (weights set, round 1 done).
  {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!first_round_done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
  }
  zmq::context_t ctx;
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(job.endpoints[0]);
  std::mt19937 rng(7);
  using T = wire::MsgType;
  std::vector<std::vector<std::string>> bad;  // in order; each entry: frames of one message
  int malformed = 0, rejected = 0, replies = 0;
  for (int i = 0; i < 20; ++i) {  // random bytes, one to three frames
    std::vector<std::string> msg;
    const int nframes = 1 + int(rng() % 3);
    for (int f = 0; f < nframes; ++f) {
      std::string junk(static_cast<std::size_t>(rng() % 100), '\0');
      for (auto& c : junk) c = static_cast<char>(rng());
      msg.push_back(std::move(junk));
    }
    bad.push_back(std::move(msg));
    ++malformed;
  }
  const std::string good_register = R"({"token":"test-token","rank":1})";
  auto hs = header_bytes(T::kRegister, good_register.size());
  bad.push_back({hs.substr(0, 20), good_register});  // truncated header
  ++malformed;
  auto wrong_magic = hs;
  wrong_magic[0] ^= 0x55;
  bad.push_back({wrong_magic, good_register});
  ++malformed;
  auto wrong_version = hs;
  wrong_version[4] = 9;
  bad.push_back({wrong_version, good_register});
  ++malformed;
  bad.push_back(frames(T::kRegister, good_register, {}, 0, long(good_register.size()) + 4));  // payload mismatch
  ++malformed;
  bad.push_back(frames(T::kPush, "[1,2,3]", {float_frame(n)}, 1));  // body not an object
  ++malformed;
  bad.push_back(frames(T::kPush, "{x}", {float_frame(n)}, 1));  // body not JSON
  ++malformed;
  bad.push_back(frames(T::kPush, R"({"samples":1})", {float_frame(n)}, 1));  // push before registering
  ++rejected, ++replies;
  bad.push_back(frames(T::kPull, "{}", {}, 1));  // pull before registering
  ++rejected, ++replies;
  bad.push_back(frames(T::kRegister, R"({"token":"wrong-token","rank":1})"));  // wrong token
  ++rejected, ++replies;
  bad.push_back(frames(T::kRegister, R"({"token":"test-token","rank":99})"));  // rank out of range
  ++rejected, ++replies;
  bad.push_back(frames(T::kRegister, good_register));  // correct: not counted, acknowledged
  ++replies;
  bad.push_back(frames(T::kPush, "[]", {}, 1));  // non-object body from a registered peer
  ++malformed;
  bad.push_back(frames(T::kPush, R"({"samples":1})", {float_frame(n + 1)}, 1, -1));  // wrong slice size
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"samples":1})", {float_frame(n - 1)}, 1, -1));  // short slice
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"samples":1})", {}, 1));  // no slice at all
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"stop":false})", {float_frame(n)}, 1));  // samples missing
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"samples":"many"})", {float_frame(n)}, 1));  // samples not a number
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"samples":1})", {float_frame(n)}, 0));  // header rank is not ours
  ++malformed, ++replies;
  bad.push_back(frames(T::kKvSet, R"({"key":"a","value":"b"})", {}, 1));  // not a PS message
  ++malformed, ++replies;
  bad.push_back(frames(T::kPush, R"({"init":true,"n":1001})", {float_frame(n)}, 1));  // init from rank 1
  ++malformed, ++replies;

  for (const auto& msg : bad)
    for (std::size_t i = 0; i < msg.size(); ++i)
      raw.send(zmq::buffer(msg[i]), i + 1 < msg.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  // Fence: the last bad message that gets an answer was processed after everything before it
  // from this connection (one connection is served in order).
  int got = 0, acks = 0, rejects = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got < replies && std::chrono::steady_clock::now() < deadline) {
    std::optional<wire::Message> m;
    try {
      m = wire::recv(raw, 100ms, /*router=*/false);
    } catch (const ProtocolError& e) {
      ADD_FAILURE() << "the shard sent a malformed reply: " << e.what();
      continue;
    }
    if (!m) continue;
    ++got;
    acks += m->header.type == T::kAck;
    rejects += m->header.type == T::kReject;
  }
  EXPECT_EQ(got, replies);
  EXPECT_EQ(acks, 1);
  EXPECT_EQ(rejects, replies - 1);
  raw_done = true;
  good.join();
  job.finish();
  const auto st = job.shard[0]->server.stats();
  EXPECT_GE(st.malformed + st.rejected, std::uint64_t(malformed + rejected));
  EXPECT_EQ(st.malformed, std::uint64_t(malformed));
  EXPECT_EQ(st.rejected, std::uint64_t(rejected));
  EXPECT_EQ(st.pushes, std::uint64_t(workers * rounds));
  EXPECT_EQ(st.lost, 0u);
}

// ---------------------------------------------------------------------------------------------
// A worker that registers but never pushes

// Waits, bounded, until flag >= target (a failing peer must not hang the test).
void wait_for(const std::atomic<int>& flag, int target, std::chrono::milliseconds limit = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (flag.load() < target && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
}

TEST(PsServer, SilentWorkerIsDroppedAndTheRoundCompletes) {
  const std::size_t n = 1001;
  Job job(1, "sync-grad", 3, 300ms);
  std::atomic<int> silent_ready{0}, pushed{0}, checked{0};
  std::thread rank2([&] {
    try {
      PsClient silent(job.endpoints, kToken, 2, 1, n, 3s);
      std::vector<float> w(n);
      silent.pull(w.data());
      silent_ready = 1;
      wait_for(pushed, 2);  // ranks 0 and 1 got their round without us
      std::vector<float> g(n, 1.0f);
      // Dropped: a late push is refused, not answered with weights.
      EXPECT_THROW(silent.push_pull(w.data(), g.data(), 1.0, false), PeerLostError);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "silent rank: " << e.what();
    }
    silent_ready = 1;
    checked = 1;
  });
  run_ranks(2, [&](int rank) {
    PsClient client(job.endpoints, kToken, rank, 1, n, 3s);  // push_pull waits at most 2 x 3 s
    std::vector<float> w(n), g(n);
    if (rank == 0) {
      for (std::size_t i = 0; i < n; ++i) w[i] = init_value(i);
      client.init(w.data());
    } else {
      client.pull(w.data());
    }
    wait_for(silent_ready, 1);
    for (std::size_t i = 0; i < n; ++i) g[i] = grad_value(rank, i);
    try {
      const auto r = client.push_pull(w.data(), g.data(), 1.0, false);
      EXPECT_EQ(r.version, 1u);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < n; ++i) wrong += w[i] != float(double(init_value(i)) - 1.5 * double(1 << (i % 4)));
      EXPECT_EQ(wrong, 0u) << "rank " << rank << ": the round of the two live workers";
    } catch (...) {
      ++pushed;
      throw;
    }
    ++pushed;
    wait_for(checked, 1);
    client.leave("done");
  });
  rank2.join();
  job.finish();
  const auto st = job.shard[0]->server.stats();
  EXPECT_EQ(st.lost, 1u);
  EXPECT_EQ(st.pushes, 2u);
}

}  // namespace

// The parameter server's rules beyond the arithmetic: pushes they refuse (before a pull, twice
// into one sync round, from the future or from no such worker), workers leaving mid-round, and
// copy-on-write snapshots of the weights a reply may still be sending.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "esync/error.hpp"
#include "esync/ps_rules.hpp"
#include "ps_rules_ref.hpp"

using namespace esync;
using namespace esync::ps;
using namespace esync::test;

namespace {

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
  EXPECT_FALSE(rules.remove_worker(2));                           // twice: nothing happens
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

}  // namespace

// The job's rate schedule and weight decay, applied where the parameter server's gradient modes
// update the weights: on the shard, at the samples pushed so far.
TEST(ShardRules, RateFollowsTheScheduleOfPushedSamplesAndWeightDecayShrinks) {
  auto cfg = rule_cfg("async", 1, "sgd", 1.0f);
  cfg.schedule = LrSchedule{"cosine", 1.0f, 100, 10, 0.9f, 0};  // 100 samples to 0
  cfg.opt.weight_decay = 0.1f;
  ShardRules rules(cfg, std::vector<float>(3, 1.0f));
  const std::vector<float> zero(3, 0.0f);
  EXPECT_FLOAT_EQ(rules.push(0, zero.data(), 50.0, 0).lr, 1.0f);    // before any sample: the base
  EXPECT_FLOAT_EQ((*rules.weights())[0], 0.9f);                     // w - lr * wd * w
  EXPECT_NEAR(rules.push(0, zero.data(), 50.0, 1).lr, 0.5f, 1e-6);  // half way: (1 + cos(pi/2)) / 2
  EXPECT_NEAR((*rules.weights())[0], 0.9f * (1.0f - 0.5f * 0.1f), 1e-6);
  EXPECT_NEAR(rules.push(0, zero.data(), 1.0, 2).lr, 0.0f, 1e-6);  // at the end of the schedule

  // The synchronous rule closes its round at the rate of the samples pushed with it.
  auto sync = rule_cfg("sync-grad", 2, "sgd", 1.0f);
  sync.schedule = LrSchedule{"exponential", 1.0f, 1000, 10, 0.5f, 0};  // x 0.5 every 10 samples
  ShardRules round(sync, std::vector<float>(1, 0.0f));
  const std::vector<float> one(1, 1.0f);
  EXPECT_FALSE(round.push(0, one.data(), 5.0, 0).applied);
  EXPECT_TRUE(round.push(1, one.data(), 5.0, 0).applied);  // 10 samples: rate 0.5, mean gradient 1
  EXPECT_FLOAT_EQ((*round.weights())[0], -0.5f);
}

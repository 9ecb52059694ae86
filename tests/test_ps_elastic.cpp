// Elastic join at the parameter server: the rules' slots for workers that are not live at the
// start, and a worker joining a running job over ZeroMQ while the others keep pushing. With
// integer-valued gradients the final weights tell exactly which rounds counted the joiner, so
// a shard that added it at a different round than another shard shows up as a wrong element.
#include <atomic>

#include "ps_rules_ref.hpp"
#include "ps_test_util.hpp"

using namespace esync;
using namespace esync::ps;
using namespace esync::test;
using namespace std::chrono_literals;

namespace {

TEST(ShardRules, JoinerSlotsAreNotLiveUntilAdded) {
  auto cfg = rule_cfg("sync-grad", 3, "sgd", 1.0f);
  cfg.live_at_start = 2;
  ShardRules rules(cfg, std::vector<float>(4, 10.0f));
  EXPECT_EQ(rules.live_workers(), 2);
  EXPECT_FALSE(rules.is_live(2));
  std::vector<float> g0(4, 1.0f), g1(4, 3.0f), g2(4, 8.0f);
  EXPECT_THROW(rules.push(2, g2.data(), 1.0, 0), ProtocolError);  // not joined yet
  EXPECT_FALSE(rules.push(0, g0.data(), 1.0, 0).applied);
  EXPECT_TRUE(rules.push(1, g1.data(), 1.0, 0).applied);      // the round needs the two live ones only
  EXPECT_EQ(weights_of(rules), std::vector<float>(4, 8.0f));  // 10 - (1 + 3) / 2
  rules.add_worker(2);
  EXPECT_THROW(rules.add_worker(2), ProtocolError);  // live already
  EXPECT_THROW(rules.add_worker(3), ProtocolError);  // beyond the capacity
  EXPECT_FALSE(rules.push(0, g0.data(), 1.0, 1).applied);
  EXPECT_FALSE(rules.push(1, g1.data(), 1.0, 1).applied);
  EXPECT_EQ(rules.missing(), std::vector<int>{2});  // now the round waits for the joiner
  EXPECT_TRUE(rules.push(2, g2.data(), 1.0, 1).applied);
  EXPECT_EQ(weights_of(rules), std::vector<float>(4, 4.0f));  // 8 - (1 + 3 + 8) / 3
  EXPECT_THROW(
      [] {
        auto bad = rule_cfg("async", 2);
        bad.live_at_start = 3;
        ShardRules r(bad, std::vector<float>(1));
      }(),
      ConfigError);
}

TEST(ShardRules, RejoinAfterLeavingStartsAFreshSlot) {
  auto cfg = rule_cfg("async-cached", 2, "sgd", 1.0f);
  ShardRules rules(cfg, std::vector<float>(2, 0.0f));
  std::vector<float> g0(2, 2.0f), g1(2, 4.0f);
  rules.push(1, g1.data(), 1.0, 0);  // mean of {0, 4} = 2
  EXPECT_FALSE(rules.remove_worker(1));
  rules.add_worker(1);               // its cached gradient is gone: zeros until it pushes again
  rules.push(0, g0.data(), 1.0, 1);  // mean of {2, 0} = 1
  EXPECT_EQ(weights_of(rules), std::vector<float>(2, -3.0f));
}

// Workers 0 and 1 run `rounds` sync rounds on 2 shards; worker 2 joins once worker 0 is past
// round 5 and pushes in every round from the one it joined at. Each element ends at
// init - (J * 1.5 + (rounds - J) * 2) * 2^(i%4), J the join version.
TEST(PsElastic, JoinerEntersTheSameRoundOnEveryShard) {
  constexpr int kRounds = 40, kShards = 2;
  constexpr std::size_t n = 1001;
  std::vector<std::unique_ptr<Shard>> shards;
  std::vector<std::string> endpoints;
  for (int s = 0; s < kShards; ++s) {
    auto c = shard_cfg(s, kShards, "sync-grad", 3);
    c.rule.live_at_start = 2;
    shards.push_back(std::make_unique<Shard>(c));
    endpoints.push_back(shards.back()->server.endpoint());
  }
  std::atomic<int> progress{0};
  std::atomic<std::uint64_t> joined_at{0};
  std::vector<std::vector<float>> final_w(3);
  run_ranks(3, [&](int rank) {
    PsClient client(endpoints, kToken, rank, 1, n, 10s);
    std::vector<float> w(n), g(n);
    for (std::size_t i = 0; i < n; ++i) g[i] = grad_value(rank, i);
    std::uint64_t from = 0;
    if (rank < 2) {
      w = start_from_init(client, rank, n);
    } else {
      while (progress.load() < 5) std::this_thread::sleep_for(1ms);
      const auto r = client.join(w.data());
      from = r.version;
      joined_at = from;
      EXPECT_GT(from, 5u);
      EXPECT_LT(from, std::uint64_t(kRounds));
    }
    for (std::uint64_t round = from; round < kRounds; ++round) {
      const auto r = client.push_pull(w.data(), g.data(), 1.0, false);
      EXPECT_EQ(r.version, round + 1) << "rank " << rank;
      EXPECT_EQ(r.staleness, 0) << "rank " << rank;
      if (rank == 0) progress = static_cast<int>(round + 1);
    }
    final_w[static_cast<std::size_t>(rank)] = w;
    client.leave("done");
  });
  for (auto& s : shards) EXPECT_TRUE(s->finish(5s));
  const double j = double(joined_at.load());
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float want = float(init_value(i) - (j * 1.5 + (kRounds - j) * 2.0) * double(1 << (i % 4)));
    for (int r = 0; r < 3; ++r) wrong += final_w[static_cast<std::size_t>(r)][i] != want;
  }
  EXPECT_EQ(wrong, 0u) << "joined at version " << j;
  for (auto& s : shards) EXPECT_EQ(s->server.stats().pushes, std::uint64_t(2 * kRounds + (kRounds - j)));
}

// The asynchronous rules add a joiner at once; every push counts exactly once.
TEST(PsElastic, AsyncJoinerPushesAllCount) {
  constexpr int kPushes = 300;
  constexpr std::size_t n = 257;
  auto c = shard_cfg(0, 1, "async", 3);
  c.rule.live_at_start = 2;
  Shard shard(c);
  const std::vector<std::string> endpoints{shard.server.endpoint()};
  std::atomic<int> progress{0};
  run_ranks(3, [&](int rank) {
    PsClient client(endpoints, kToken, rank, 1, n, 10s);
    std::vector<float> w(n), g(n);
    for (std::size_t i = 0; i < n; ++i) g[i] = grad_value(rank, i);
    if (rank < 2) {
      w = start_from_init(client, rank, n);
    } else {
      while (progress.load() < 50) std::this_thread::sleep_for(1ms);
      EXPECT_GE(client.join(w.data()).version, 50u);
    }
    for (int p = 0; p < kPushes; ++p) {
      client.push_pull(w.data(), g.data(), 1.0, false);
      if (rank == 0) progress = p + 1;
    }
    client.leave("done");
  });
  EXPECT_TRUE(shard.finish(5s));
  const auto st = shard.server.stats();
  EXPECT_EQ(st.pushes, std::uint64_t(3 * kPushes));
  EXPECT_EQ(st.version, std::uint64_t(3 * kPushes));
}

TEST(PsElastic, JoinBeyondTheCapacityIsRefused) {
  auto c = shard_cfg(0, 1, "sync-grad", 2);
  Shard shard(c);
  EXPECT_THROW(PsClient({shard.server.endpoint()}, kToken, 2, 1, 8, 2s), Error);
}

}  // namespace

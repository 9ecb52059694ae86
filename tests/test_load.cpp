// Load: 64 asynchronous workers (threads, each with its own PsClient and sockets) push 1 000
// integer-valued updates each through real shards (1 and 3). Every update is applied at once with
// lr = 1 (w -= g), and every partial sum is an integer below 2^24, so float arithmetic is exact
// in any order: the final model must equal init minus the sum of all updates. A lost push or
// one applied twice changes it. The model also counts each worker's pushes: element r (r < 64)
// moves by exactly 1 per push of worker r and by nothing else.
#include "ps_test_util.hpp"

using namespace esync;
using namespace esync::ps;
using namespace esync::test;
using namespace std::chrono_literals;

namespace {

constexpr int kWorkers = 64, kPushes = 1000;
constexpr std::size_t kN = 2 * kWorkers;  // [0, 64): per-worker counters; [64, 128): shared sums

// Update p of worker r. Shared elements get 1..8, so |sum| <= 64 000 * 8 + 500 < 2^24.
float update(int r, int p, std::size_t i) {
  if (i < std::size_t(kWorkers)) return i == std::size_t(r) ? 1.0f : 0.0f;
  return float(1 + (r * 7 + p * 3 + int(i)) % 8);
}

// Waits, bounded, until counter reaches target.
bool wait_for(const std::atomic<int>& counter, int target, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (counter < target && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  return counter >= target;
}

class Load : public ::testing::TestWithParam<int> {};

TEST_P(Load, AsyncWorkersEveryUpdateAppliedExactlyOnce) {
  const int shards = GetParam();
  Job job(shards, "async", kWorkers, 60s);
  std::atomic<int> ready{0}, finished{0};
  std::atomic<std::uint64_t> sent{0}, answered{0};
  std::chrono::steady_clock::time_point start, end;
  run_ranks(kWorkers, [&](int rank) {
    PsClient client(job.endpoints, kToken, rank, 1, kN, 60s);
    auto w = start_from_init(client, rank, kN);
    std::vector<float> g(kN);
    // Everyone starts pushing together, so the server sees 64 concurrent peers.
    if (++ready == kWorkers) start = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_for(ready, kWorkers, 60s)) << "rank " << rank << ": not every worker got ready";
    std::uint64_t last = 0;
    for (int p = 0; p < kPushes; ++p) {
      for (std::size_t i = 0; i < kN; ++i) g[i] = update(rank, p, i);
      ++sent;
      const auto r = client.push_pull(w.data(), g.data(), 1.0, false);
      ++answered;
      // Our push was applied before the reply: every shard's version moved past what we saw.
      EXPECT_GT(r.version, last) << "rank " << rank << " push " << p;
      last = r.version;
    }
    if (++finished == kWorkers) end = std::chrono::steady_clock::now();
    if (rank == 0) {  // the final model, once every worker has had its last push answered
      ASSERT_TRUE(wait_for(finished, kWorkers, 120s)) << "not every worker finished";
      const auto r = client.pull(w.data());
      EXPECT_EQ(r.version, std::uint64_t(kWorkers) * kPushes);
      std::size_t wrong = 0, first = kN;
      for (std::size_t i = 0; i < kN; ++i) {
        double sum = 0;
        for (int q = 0; q < kWorkers; ++q)
          for (int p = 0; p < kPushes; ++p) sum += update(q, p, i);
        if (w[i] != float(init_value(i) - sum) && wrong++ == 0) first = i;
      }
      EXPECT_EQ(wrong, 0u) << "first wrong element " << first << " = " << (first < kN ? w[first] : 0.0f);
    }
    client.leave("done");
  });
  job.finish();

  const double seconds = std::chrono::duration<double>(end - start).count();
  std::uint64_t applied = 0;
  for (int s = 0; s < shards; ++s) {
    const auto st = job.shard[std::size_t(s)]->server.stats();
    EXPECT_EQ(st.pushes, std::uint64_t(kWorkers) * kPushes) << "shard " << s;
    EXPECT_EQ(st.version, std::uint64_t(kWorkers) * kPushes) << "shard " << s;
    EXPECT_EQ(st.malformed + st.rejected + st.lost, 0u) << "shard " << s;
    applied += st.pushes;
  }
  EXPECT_EQ(sent, std::uint64_t(kWorkers) * kPushes);
  EXPECT_EQ(answered, sent);
  std::printf(
      "load: %d shard(s), %d async workers x %d: pushes sent %llu, answered %llu, applied %llu "
      "(summed over shards), %.2f s, %.0f updates/s\n",
      shards, kWorkers, kPushes, (unsigned long long)sent.load(), (unsigned long long)answered.load(),
      (unsigned long long)applied, seconds, double(sent) / std::max(seconds, 1e-9));
}

INSTANTIATE_TEST_SUITE_P(Shards, Load, ::testing::Values(1, 3),
                         [](const auto& info) { return std::to_string(info.param) + "_shards"; });

}  // namespace

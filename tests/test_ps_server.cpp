// The ZeroMQ shard with its worker client end to end on 127.0.0.1 (random ports, ranks as
// threads). Integer-valued inputs make the results exact, so they are compared with ==.
#include "ps_test_util.hpp"

using namespace esync;
using namespace esync::ps;
using namespace esync::test;
using namespace std::chrono_literals;

namespace {

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
    auto w = start_from_init(client, rank, n);
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

INSTANTIATE_TEST_SUITE_P(Grid, PsEndToEnd,
                         ::testing::Combine(::testing::Values(1, 2, 3, 7, 8), ::testing::Values(1, 3),
                                            ::testing::Values(std::size_t{0}, std::size_t{1},
                                                              std::size_t{1001}, std::size_t{1} << 20)),
                         [](const auto& info) {
                           return "w" + std::to_string(std::get<0>(info.param)) + "_s" +
                                  std::to_string(std::get<1>(info.param)) + "_n" +
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

}  // namespace
